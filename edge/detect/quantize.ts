import "./ort-privacy.ts"; // before onnxruntime-node: switches its telemetry off
import onnxProto from "onnx-proto";
import ort from "onnxruntime-node";
import type { FramePixels } from "../domain/types.ts";
import type { Preprocess } from "./model-descriptor.ts";
import { sha256 } from "./model-file.ts";
import { BASE_MODEL_KEY, PRECISION_KEY } from "./onnx-metadata.ts";
import { Preprocessor } from "./preprocess.ts";

const { onnx } = onnxProto;
type Model = onnxProto.onnx.ModelProto;
// Decoded and created messages are class instances: their fields are never null.
type NodeProto = onnxProto.onnx.NodeProto;
type TensorProto = onnxProto.onnx.TensorProto;
type GraphProto = onnxProto.onnx.GraphProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const UINT8 = onnx.TensorProto.DataType.UINT8;
const INT8 = onnx.TensorProto.DataType.INT8;
const INT32 = onnx.TensorProto.DataType.INT32;
const INT64 = onnx.TensorProto.DataType.INT64;

/**
 * Which operators besides Conv run in int8. `conv`: only the convolutions; their SiLU (Sigmoid, Mul)
 * and the joins between them stay float, with a QuantizeLinear/DequantizeLinear pair on each side.
 * `all`: Sigmoid, Mul, Add, Concat, MaxPool and Resize between quantized convolutions run in int8
 * too (ONNX Runtime's QLinear* kernels).
 */
export type QuantizedOps = "conv" | "all";

export interface QuantizeRecipe {
  /** Convolutions kept float from the input on (the stem sees raw pixels). */
  readonly stemConvs: number;
  /**
   * Convolutions kept float at the output end: those followed by fewer than this many convolutions
   * on the way to an output (1: the detection head's prediction layers; 0: none).
   */
  readonly headDepth: number;
  readonly ops: QuantizedOps;
  /**
   * How an activation's range comes from the frames: `minmax`, the extremes over all frames;
   * `mean`, the mean of each frame's extremes (a rare outlier frame does not widen every step);
   * `percentile`, the range holding `percentile` % of all values seen (the rest clipped evenly at both ends).
   */
  readonly range: "minmax" | "mean" | "percentile";
  readonly percentile: number;
}

/** Measured on YOLOX-Nano: docs/models.md ("int8"). */
export const DEFAULT_RECIPE: QuantizeRecipe = {
  stemConvs: 2,
  headDepth: 1,
  ops: "all",
  range: "percentile",
  percentile: 99.99,
};

export interface QuantizeInput {
  readonly modelBytes: Uint8Array;
  /** Manifest id of the float model, written into the quantized file's metadata. */
  readonly baseModel: string | undefined;
  readonly input: { readonly width: number; readonly height: number };
  readonly preprocess: Preprocess;
  /** Calibration frames (image files, or camera frames held in memory only). */
  readonly frames: AsyncIterable<FramePixels> | Iterable<FramePixels>;
  readonly recipe?: QuantizeRecipe;
  readonly threads?: number;
}

/** Why a convolution stays float: the recipe's stem or head, or weights not stored in the file. */
export type FloatReason = "stem" | "head" | "computed weights";

export interface QuantizeResult {
  readonly bytes: Uint8Array;
  readonly sha256: string;
  readonly calibrationFrames: number;
  readonly quantizedConvs: readonly string[];
  readonly floatConvs: readonly { readonly name: string; readonly why: FloatReason }[];
  readonly quantizedOtherOps: number;
  readonly recipe: QuantizeRecipe;
}

export class QuantizeError extends Error {
  override readonly name = "QuantizeError";
}

const OTHER_QUANTIZABLE = new Set(["Sigmoid", "Mul", "Add", "Concat", "MaxPool", "Resize"]);
/**
 * Operators whose meaning changed between opset 11 and 13, which the opset is raised to for
 * per-channel scales (Split's `split` attribute is moved to its input, as opset 13 has it).
 */
const CHANGED_BY_OPSET_13 = new Set([
  "Squeeze",
  "Unsqueeze",
  "ReduceSum",
  "Softmax",
  "LogSoftmax",
  "Hardmax",
]);

/**
 * Static int8 QDQ quantization: per-channel symmetric int8 weights, uint8 activations with ranges
 * from calibration frames, int32 biases. Deterministic for the same model, frames and recipe.
 */
export async function quantizeModel(q: QuantizeInput): Promise<QuantizeResult> {
  const recipe = q.recipe ?? DEFAULT_RECIPE;
  const model = onnx.ModelProto.decode(q.modelBytes);
  const graph = model.graph as GraphProto | null;
  if (!graph) throw new QuantizeError("the model has no graph");
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === "ai.onnx");
  if (!opset) throw new QuantizeError("the model imports no ai.onnx opset");
  const graphNodes = graph.node as NodeProto[];
  if (Number(opset.version) < 13) {
    const changed = graphNodes.filter((n) => CHANGED_BY_OPSET_13.has(n.opType));
    if (changed.length > 0) {
      throw new QuantizeError(
        `the model is opset ${Number(opset.version)} and uses ${[...new Set(changed.map((n) => n.opType))].join(", ")}, ` +
          "whose meaning changed in opset 13 (needed for per-channel weights); export it at opset 13 or later",
      );
    }
  }
  if (graph.input.length !== 1)
    throw new QuantizeError(`the model has ${graph.input.length} inputs; expected one`);

  const initializers = new Map<string, TensorProto>(
    (graph.initializer as TensorProto[]).map((t) => [t.name, t]),
  );
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const n of graphNodes) {
    for (const o of n.output) producer.set(o, n);
    for (const i of n.input) {
      if (!i) continue;
      const list = consumers.get(i) ?? [];
      list.push(n);
      consumers.set(i, list);
    }
  }
  // initializers and the outputs of Constant nodes: never calibrated, never given a QDQ pair
  const constants = new Set<string>([
    ...initializers.keys(),
    ...graphNodes.filter((n) => n.opType === "Constant").flatMap((n) => n.output),
  ]);
  const { quantized, floatConvs } = chooseNodes(
    graphNodes,
    recipe,
    initializers,
    constants,
    producer,
    consumers,
    new Set(graph.output.map((o) => o.name ?? "")),
  );
  const tensors = tensorsToQuantize(graphNodes, quantized, constants);
  const ranges = await calibrate(q, model, tensors, recipe);

  const quant = new Map<string, { scale: number; zeroPoint: number }>();
  for (const name of tensors) {
    const r = ranges.get(name);
    if (!r) throw new QuantizeError(`no range measured for ${name}`);
    quant.set(name, activationParams(r.min, r.max));
  }

  const newInitializers: TensorProto[] = [...(graph.initializer as TensorProto[])];
  const removeInitializers = new Set<string>();
  const nodes: NodeProto[] = [];
  const qdq = (tensor: string): NodeProto[] => {
    const p = quant.get(tensor)!;
    const scaleName = `${tensor}_scale`;
    const zpName = `${tensor}_zero_point`;
    newInitializers.push(floatScalar(scaleName, p.scale), uint8Scalar(zpName, p.zeroPoint));
    return [
      node(
        "QuantizeLinear",
        `${tensor}_QuantizeLinear`,
        [tensor, scaleName, zpName],
        [`${tensor}_quantized`],
      ),
      node(
        "DequantizeLinear",
        `${tensor}_DequantizeLinear`,
        [`${tensor}_quantized`, scaleName, zpName],
        [`${tensor}_dequantized`],
      ),
    ];
  };
  const rewire = (name: string) => (quant.has(name) ? `${name}_dequantized` : name);
  const graphInput = graph.input[0]?.name ?? "";
  if (quant.has(graphInput)) nodes.push(...qdq(graphInput));
  let otherOps = 0;
  for (const n of graphNodes) {
    const isQuantConv = n.opType === "Conv" && quantized.has(n);
    if (isQuantConv) {
      const [x, w, b] = n.input;
      const weight = initializers.get(w ?? "");
      if (!x || !weight) throw new QuantizeError(`Conv ${n.name} has no constant weight; cannot quantize it`);
      const xScale = quant.get(x)!.scale;
      const wq = quantizeWeight(weight);
      /** A float constant replaced by its int values and the node that dequantizes them: its output. */
      const dequantized = (
        name: string,
        q: { values: TensorProto; scales: TensorProto; zeroPoints: TensorProto },
      ) => {
        newInitializers.push(q.values, q.scales, q.zeroPoints);
        removeInitializers.add(name);
        nodes.push(
          node(
            "DequantizeLinear",
            `${name}_DequantizeLinear`,
            [q.values.name, q.scales.name, q.zeroPoints.name],
            [`${name}_dequantized`],
            0,
          ),
        );
        return `${name}_dequantized`;
      };
      const inputs = [rewire(x), dequantized(weight.name, wq)];
      if (b) {
        const bias = initializers.get(b);
        if (!bias) throw new QuantizeError(`Conv ${n.name} has a computed bias; cannot quantize it`);
        inputs.push(dequantized(bias.name, quantizeBias(bias, xScale, wq.scaleValues)));
      }
      nodes.push(onnx.NodeProto.create({ ...n, input: inputs }));
    } else {
      if (quantized.has(n)) otherOps++;
      nodes.push(onnx.NodeProto.create({ ...n, input: n.input.map(rewire) }));
    }
    for (const o of n.output) if (quant.has(o)) nodes.push(...qdq(o));
  }
  // A quantized tensor that is also a graph output keeps its float producer's value under its own name.
  if (Number(opset.version) < 13)
    for (const n of nodes) if (n.opType === "Split") splitToInput(n, newInitializers);
  graph.node = nodes;
  graph.initializer = newInitializers.filter((t) => !removeInitializers.has(t.name));
  opset.version = Math.max(13, Number(opset.version));
  model.metadataProps = model.metadataProps.filter(
    (p) => p.key !== BASE_MODEL_KEY && p.key !== PRECISION_KEY,
  );
  if (q.baseModel)
    model.metadataProps.push(onnx.StringStringEntryProto.create({ key: BASE_MODEL_KEY, value: q.baseModel }));
  model.metadataProps.push(onnx.StringStringEntryProto.create({ key: PRECISION_KEY, value: "int8" }));
  const bytes = onnx.ModelProto.encode(model).finish();
  const convs = nodes.filter((n) => n.opType === "Conv");
  return {
    bytes,
    sha256: sha256(bytes),
    calibrationFrames: ranges.frames,
    quantizedConvs: convs.filter((n) => !floatConvs.some((f) => f.name === n.name)).map((n) => n.name),
    floatConvs,
    quantizedOtherOps: otherOps,
    recipe,
  };
}

function chooseNodes(
  all: readonly NodeProto[],
  recipe: QuantizeRecipe,
  initializers: ReadonlyMap<string, TensorProto>,
  constants: ReadonlySet<string>,
  producer: ReadonlyMap<string, NodeProto>,
  consumers: ReadonlyMap<string, NodeProto[]>,
  graphOutputs: ReadonlySet<string>,
): { quantized: Set<NodeProto>; floatConvs: { name: string; why: FloatReason }[] } {
  const floatConvs: { name: string; why: FloatReason }[] = [];
  const quantized = new Set<NodeProto>();
  const convs = all.filter((n) => n.opType === "Conv");
  // Fewest convolutions between each node's output and a graph output, in reverse graph order.
  const convsAfter = new Map<NodeProto, number>();
  const tensorDepth = (t: string): number =>
    Math.min(
      graphOutputs.has(t) ? 0 : Number.POSITIVE_INFINITY,
      ...(consumers.get(t) ?? []).map((c) => (convsAfter.get(c) ?? 0) + (c.opType === "Conv" ? 1 : 0)),
    );
  for (let k = all.length - 1; k >= 0; k--) {
    const n = all[k]!;
    convsAfter.set(n, Math.min(...n.output.map(tensorDepth)));
  }
  const reachesConv = (start: NodeProto): boolean => {
    const seen = new Set<NodeProto>();
    const stack = start.output.flatMap((o) => consumers.get(o) ?? []);
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      if (n.opType === "Conv") return true;
      for (const o of n.output) stack.push(...(consumers.get(o) ?? []));
    }
    return false;
  };
  convs.forEach((c, k) => {
    const name = c.name ?? `Conv#${k}`;
    if (k < recipe.stemConvs) floatConvs.push({ name, why: "stem" });
    else if ((convsAfter.get(c) ?? 0) < recipe.headDepth) floatConvs.push({ name, why: "head" });
    else if (!initializers.has(c.input[1] ?? "") || (c.input[2] && !initializers.has(c.input[2])))
      floatConvs.push({ name, why: "computed weights" });
    else quantized.add(c);
  });
  if (recipe.ops === "all") {
    // In graph order: an operator joins int8 when an activation it reads comes from an int8 operator.
    for (const n of all) {
      if (!OTHER_QUANTIZABLE.has(n.opType) || n.domain) continue;
      const acts = activationInputs(n, constants);
      if (acts.length === 0) continue;
      if (acts.some((a) => quantized.has(producer.get(a) as NodeProto)) && reachesConv(n)) quantized.add(n);
    }
  }
  return { quantized, floatConvs };
}

/** The float activations an operator reads (not constants, not Resize's roi/scales/sizes). */
function activationInputs(n: NodeProto, constants: ReadonlySet<string>): string[] {
  const ins = n.opType === "Resize" ? n.input.slice(0, 1) : n.input;
  return ins.filter((i) => i && !constants.has(i));
}

function tensorsToQuantize(
  all: readonly NodeProto[],
  quantized: ReadonlySet<NodeProto>,
  constants: ReadonlySet<string>,
): string[] {
  const names = new Set<string>();
  for (const n of all) {
    if (!quantized.has(n)) continue;
    if (n.opType === "Conv") names.add(n.input[0]!);
    else for (const i of activationInputs(n, constants)) names.add(i);
    for (const o of n.output) names.add(o);
  }
  return [...names].sort();
}

interface Ranges {
  readonly frames: number;
  get(name: string): { min: number; max: number } | undefined;
}

/** Runs the float model with every tensor to quantize as an extra output and records its range. */
async function calibrate(
  q: QuantizeInput,
  model: Model,
  tensors: readonly string[],
  recipe: QuantizeRecipe,
): Promise<Ranges> {
  const probe = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  const graph = probe.graph as GraphProto;
  const existing = new Set(graph.output.map((o) => o.name));
  for (const name of tensors) {
    if (existing.has(name)) continue;
    graph.output.push(onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: FLOAT } } }));
  }
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(probe).finish(), {
    graphOptimizationLevel: "basic",
    ...(q.threads && q.threads > 0 ? { intraOpNumThreads: q.threads, interOpNumThreads: 1 } : {}),
  });
  const pre = new Preprocessor(q.input.width, q.input.height, q.preprocess);
  const input = new ort.Tensor("float32", pre.tensorData, [1, 3, q.input.height, q.input.width]);
  // The percentile needs two passes (extremes, then a histogram within them): the prepared inputs
  // are kept in memory for the second (64 frames at 416x416: 33 MB), never written anywhere.
  const kept: Float32Array[] = [];
  const min = new Map<string, number>();
  const max = new Map<string, number>();
  const run = async (visit: (name: string, data: Float32Array) => void) => {
    const out = await session.run({ [session.inputNames[0]!]: input }, [...tensors]);
    for (const name of tensors) {
      const t = out[name];
      if (t?.type !== "float32")
        throw new QuantizeError(`calibration output ${name} is ${t?.type ?? "missing"}`);
      visit(name, t.data as Float32Array);
      t.dispose?.();
    }
  };
  let frames = 0;
  try {
    for await (const pixels of q.frames) {
      await pre.prepare(pixels);
      if (recipe.range === "percentile") kept.push(Float32Array.from(pre.tensorData));
      await run((name, data) => {
        const [lo, hi] = extremes(data);
        if (recipe.range === "mean") {
          min.set(name, (min.get(name) ?? 0) + lo);
          max.set(name, (max.get(name) ?? 0) + hi);
        } else {
          min.set(name, Math.min(min.get(name) ?? lo, lo));
          max.set(name, Math.max(max.get(name) ?? hi, hi));
        }
      });
      frames++;
    }
    if (frames === 0) throw new QuantizeError("no calibration frames");
    if (recipe.range === "mean") {
      for (const name of tensors) {
        min.set(name, min.get(name)! / frames);
        max.set(name, max.get(name)! / frames);
      }
    }
    if (recipe.range === "percentile") {
      const histograms = new Map<string, Float64Array>(
        tensors.map((t) => [t, new Float64Array(HISTOGRAM_BINS)]),
      );
      for (const frame of kept) {
        pre.tensorData.set(frame);
        await run((name, data) =>
          addToHistogram(histograms.get(name)!, data, min.get(name)!, max.get(name)!),
        );
      }
      for (const name of tensors) {
        const [lo, hi] = percentileRange(
          histograms.get(name)!,
          min.get(name)!,
          max.get(name)!,
          recipe.percentile,
        );
        min.set(name, lo);
        max.set(name, hi);
      }
    }
  } finally {
    await session.release();
  }
  return {
    frames,
    get: (name) => (min.has(name) ? { min: min.get(name)!, max: max.get(name)! } : undefined),
  };
}

const HISTOGRAM_BINS = 4096;

function addToHistogram(h: Float64Array, data: Float32Array, lo: number, hi: number): void {
  if (hi <= lo) return;
  const perUnit = h.length / (hi - lo);
  const last = h.length - 1;
  for (let i = 0; i < data.length; i++) {
    const b = Math.floor((data[i]! - lo) * perUnit);
    h[Math.max(0, Math.min(b, last))]! += 1;
  }
}

/** The range that leaves out `(100 - percentile) %` of the values at each end. */
function percentileRange(h: Float64Array, lo: number, hi: number, percentile: number): [number, number] {
  if (hi <= lo) return [lo, hi];
  let total = 0;
  for (const c of h) total += c;
  const tail = (total * (100 - percentile)) / 100;
  const width = (hi - lo) / h.length;
  let first = 0;
  for (let acc = 0; first < h.length - 1 && acc + h[first]! <= tail; first++) acc += h[first]!;
  let last = h.length - 1;
  for (let acc = 0; last > first && acc + h[last]! <= tail; last--) acc += h[last]!;
  return [lo + first * width, lo + (last + 1) * width];
}

function extremes(data: Float32Array): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** uint8, asymmetric; the range always holds 0 so that zero padding is exact. */
function activationParams(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (hi === lo) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  const zeroPoint = Math.min(255, Math.max(0, roundHalfEven(-lo / scale)));
  return { scale, zeroPoint };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function floatValues(t: TensorProto): Float32Array {
  if (t.dataType !== FLOAT) throw new QuantizeError(`initializer ${t.name} is not float32`);
  if (t.rawData && t.rawData.length > 0) {
    const copy = new Uint8Array(t.rawData);
    return new Float32Array(copy.buffer, 0, copy.length / 4);
  }
  return Float32Array.from(t.floatData ?? []);
}

/** Per output channel (axis 0), symmetric in -127..127. */
function quantizeWeight(w: TensorProto): {
  values: TensorProto;
  scales: TensorProto;
  zeroPoints: TensorProto;
  scaleValues: Float32Array;
} {
  const data = floatValues(w);
  const dims = (w.dims ?? []).map(Number);
  const channels = dims[0]!;
  const per = data.length / channels;
  const scales = new Float32Array(channels);
  const q = new Int8Array(data.length);
  for (let c = 0; c < channels; c++) {
    let absMax = 0;
    for (let i = c * per; i < (c + 1) * per; i++) absMax = Math.max(absMax, Math.abs(data[i]!));
    const s = absMax > 0 ? Math.fround(absMax / 127) : 1;
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++)
      q[i] = Math.max(-127, Math.min(127, roundHalfEven(data[i]! / s)));
  }
  const name = w.name!;
  return {
    values: tensor(`${name}_quantized`, INT8, dims, new Uint8Array(q.buffer)),
    scales: tensor(`${name}_scale`, FLOAT, [channels], new Uint8Array(scales.buffer)),
    zeroPoints: tensor(`${name}_zero_point`, INT8, [channels], new Uint8Array(channels)),
    scaleValues: scales,
  };
}

/** int32 with scale input scale × weight scale, so the convolution accumulates it exactly. */
function quantizeBias(
  b: TensorProto,
  inputScale: number,
  weightScales: Float32Array,
): { values: TensorProto; scales: TensorProto; zeroPoints: TensorProto } {
  const data = floatValues(b);
  const scales = new Float32Array(data.length);
  const q = new Int32Array(data.length);
  for (let c = 0; c < data.length; c++) {
    const s = Math.fround(inputScale * weightScales[c]!);
    scales[c] = s;
    q[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, roundHalfEven(data[c]! / s)));
  }
  const name = b.name!;
  return {
    values: tensor(`${name}_quantized`, INT32, [data.length], new Uint8Array(q.buffer)),
    scales: tensor(`${name}_scale`, FLOAT, [data.length], new Uint8Array(scales.buffer)),
    zeroPoints: tensor(`${name}_zero_point`, INT32, [data.length], new Uint8Array(data.length * 4)),
  };
}

/** Opset 13 takes Split's sizes as its second input instead of the `split` attribute. */
function splitToInput(n: NodeProto, initializers: TensorProto[]): void {
  const attr = n.attribute.find((a) => a.name === "split");
  if (!attr) return;
  const sizes = (attr.ints ?? []).map(Number);
  const name = `${n.name || n.output[0]}_split`;
  initializers.push(
    tensor(name, INT64, [sizes.length], new Uint8Array(BigInt64Array.from(sizes.map(BigInt)).buffer)),
  );
  n.input = [n.input[0]!, name];
  n.attribute = n.attribute.filter((a) => a !== attr);
}

function tensor(name: string, dataType: number, dims: number[], rawData: Uint8Array): TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims, rawData });
}

function floatScalar(name: string, v: number): TensorProto {
  return tensor(name, FLOAT, [], new Uint8Array(Float32Array.of(v).buffer));
}

function uint8Scalar(name: string, v: number): TensorProto {
  return tensor(name, UINT8, [], Uint8Array.of(v));
}

function node(opType: string, name: string, input: string[], output: string[], axis?: number): NodeProto {
  return onnx.NodeProto.create({
    opType,
    name,
    input,
    output,
    attribute:
      axis === undefined ? [] : [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: axis }],
  });
}
