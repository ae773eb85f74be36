/**
 * Reads `metadata_props` (ModelProto field 14) from an ONNX file's bytes. onnxruntime-node does not
 * expose them, and Ultralytics stores the class names, input size and stride there.
 * Only the top level of the protobuf is walked; the graph is skipped by its length prefix.
 */
export function readOnnxMetadata(bytes: Uint8Array): Map<string, string> {
  const props = new Map<string, string>();
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) throw new Error("truncated varint");
      const b = bytes[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error("varint too long");
    }
  };
  const decoder = new TextDecoder();
  while (pos < bytes.length) {
    const tag = readVarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) readVarint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = readVarint();
      const end = pos + len;
      if (end > bytes.length) throw new Error("truncated field");
      if (field === 14) {
        let key = "";
        let value = "";
        while (pos < end) {
          const t = readVarint();
          const l = readVarint();
          const s = decoder.decode(bytes.subarray(pos, pos + l));
          pos += l;
          if (t >>> 3 === 1) key = s;
          else if (t >>> 3 === 2) value = s;
        }
        props.set(key, value);
      }
      pos = end;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return props;
}

/** Parses Ultralytics' `names` value, a Python dict literal such as `{0: 'person', 1: 'bicycle'}`. */
export function parseUltralyticsNames(value: string): string[] | undefined {
  const names: string[] = [];
  for (const m of value.matchAll(/(\d+)\s*:\s*(['"])(.*?)\2/g)) names[Number(m[1])] = m[3]!;
  if (names.length === 0 || names.some((n) => n === undefined)) return undefined;
  return names;
}

/** Parses `imgsz`, e.g. `[320, 320]` (height, width). */
export function parseImgsz(value: string): { width: number; height: number } | undefined {
  const nums = value.match(/\d+/g)?.map(Number) ?? [];
  if (nums.length === 1) return { width: nums[0]!, height: nums[0]! };
  if (nums.length === 2) return { width: nums[1]!, height: nums[0]! };
  return undefined;
}

/** Metadata a quantized copy carries: the manifest model it was made from, and its precision. */
export const BASE_MODEL_KEY = "counter.base_model";
export const PRECISION_KEY = "counter.precision";
