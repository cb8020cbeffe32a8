// Safetensors files on disk (Node); the format itself, free of Node, is in safetensors.ts.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-write.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from './safetensors.js';

export function readSafetensorsFile(path: string): ReturnType<typeof decodeSafetensors> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read safetensors file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

export function writeSafetensorsFile(path: string, tensors: Array<{ name: string } & SafetensorsTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
