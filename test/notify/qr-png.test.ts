import fc from 'fast-check';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { qrPng } from '../../src/notify/qr-png.js';
import { decodeQr } from '../support/qr.js';

describe('the QR code PNG', () => {
  it('is a valid PNG (read by pngjs) of the size asked for, and reads back to its text', () => {
    const png = qrPng('https://mdm.example.com/enroll/abc', { scale: 6, margin: 4 });
    const img = PNG.sync.read(png);
    // A version-3 code is 29 modules a side; with a 4-module quiet zone on each side, 37 × 6 pixels.
    expect(img.width).toBe(37 * 6);
    expect(img.height).toBe(img.width);
    expect(decodeQr(png)).toBe('https://mdm.example.com/enroll/abc');
  });

  it('reads back to any enrollment link (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{16,64}$/), fc.webUrl(), (token, base) => {
        const url = `${base.replace(/[?#].*$/, '').replace(/\/+$/, '')}/enroll/${token}`;
        expect(decodeQr(qrPng(url))).toBe(url);
      }),
      { numRuns: 40 },
    );
  });
});
