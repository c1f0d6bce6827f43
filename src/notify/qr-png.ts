/**
 * A QR code as a PNG, drawn here from the qrcode package's module matrix: a 1-bit grayscale image
 * compressed with zlib. The package's own PNG path (pngjs, 8-bit RGBA) costs ~12 ms a code; this
 * one well under 1 ms, which is what lets the outbox render notices as fast as SMTP takes them.
 */
import { crc32, deflateSync } from 'node:zlib';
import QRCode from 'qrcode';

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The PNG of `text` as a QR code: `scale` pixels a module, a quiet zone of `margin` modules, black on white. */
export function qrPng(text: string, opts: { scale?: number; margin?: number; errorCorrectionLevel?: 'L' | 'M' | 'Q' | 'H' } = {}): Buffer {
  const scale = opts.scale ?? 6;
  const margin = opts.margin ?? 4;
  const { modules } = QRCode.create(text, { errorCorrectionLevel: opts.errorCorrectionLevel ?? 'M' });
  const side = (modules.size + 2 * margin) * scale;
  const stride = Math.ceil(side / 8);
  // Each scanline: filter byte 0, then 1 bit a pixel, 1 = white (grayscale). A module row is drawn
  // once and copied `scale` times.
  const raw = Buffer.alloc((stride + 1) * side, 0xff);
  const row = Buffer.alloc(stride + 1);
  for (let y = 0; y < side; y++) raw[y * (stride + 1)] = 0;
  for (let my = 0; my < modules.size; my++) {
    row.fill(0xff);
    row[0] = 0;
    for (let mx = 0; mx < modules.size; mx++) {
      if (!modules.get(my, mx)) continue;
      for (let x = (mx + margin) * scale, end = x + scale; x < end; x++) row[1 + (x >> 3)]! &= ~(0x80 >> (x & 7));
    }
    for (let k = 0, y = (my + margin) * scale; k < scale; k++, y++) row.copy(raw, y * (stride + 1));
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
