/**
 * The server's own pure User Enrollment rules (src/enrollments/rules.ts), so the console judges a
 * request exactly as the API will before sending it. That module imports only types and the pure
 * vocabularies of src/enrollments/model.ts and src/accounts/model.ts.
 */
export { userEnrollmentIssues, requestModeOf, UE_RULES, type EnrollmentFacts, type RuleIssue } from '../../src/enrollments/rules';
