/** Reads QR codes back in tests: jsqr over a PNG decoded by pngjs. */
import jsqrModule from 'jsqr';
import { PNG } from 'pngjs';

/** jsqr is CommonJS with an `exports.default`: Node's ESM import hands over the exports object. */
type JsQr = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const jsQR: JsQr = (jsqrModule as unknown as { default?: JsQr }).default ?? (jsqrModule as unknown as JsQr);

/** The text a QR code image (PNG bytes) encodes. */
export function decodeQr(png: Buffer): string | undefined {
  const img = PNG.sync.read(png);
  return jsQR(new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length), img.width, img.height)?.data;
}
