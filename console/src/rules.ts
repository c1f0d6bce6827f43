/**
 * The server's own pure enrollment modules, so the console judges a request exactly as the API will
 * before sending it: the User Enrollment rules (src/enrollments/rules.ts) and the request limits
 * (src/enrollments/model.ts). Both import only types and pure vocabularies (src/accounts/model.ts).
 */
export { userEnrollmentIssues, requestModeOf, UE_RULES, type EnrollmentFacts, type RuleIssue } from '../../src/enrollments/rules';
export { COMMENTS_MAX } from '../../src/enrollments/model';
