import { readFileSync } from "node:fs";
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

export const OUTPUT_LAYOUTS = ["ultralytics", "yolov5", "end2end", "yolox", "picodet"] as const;
export type OutputLayout = (typeof OUTPUT_LAYOUTS)[number];

export const PreprocessSchema = Type.Object(
  {
    colorOrder: Type.Union([Type.Literal("rgb"), Type.Literal("bgr")]),
    /** Multiplier applied to 0..255 pixel values before mean/std (1/255 for 0..1 models, 1 for raw). */
    scale: Type.Number({ exclusiveMinimum: 0 }),
    mean: Type.Tuple([Type.Number(), Type.Number(), Type.Number()]),
    std: Type.Tuple([Type.Number(), Type.Number(), Type.Number()]),
    resize: Type.Union([Type.Literal("letterbox"), Type.Literal("stretch")]),
    padPlacement: Type.Union([Type.Literal("center"), Type.Literal("top-left")]),
    padValue: Type.Integer({ minimum: 0, maximum: 255 }),
  },
  { additionalProperties: false },
);
export type Preprocess = Static<typeof PreprocessSchema>;

export const ModelDescriptorSchema = Type.Object(
  {
    id: Type.String({ pattern: "^[a-z0-9][a-z0-9._-]*$" }),
    name: Type.String(),
    file: Type.String(),
    url: Type.String(),
    /** sha256 of the file at `url`. */
    sha256: Type.String({ pattern: "^[0-9a-f]{64}$" }),
    /** Other accepted sha256 values of the same weights (e.g. a cleaned re-export). */
    otherSha256: Type.Array(Type.String({ pattern: "^[0-9a-f]{64}$" })),
    bytes: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    license: Type.String(),
    input: Type.Object({ width: Type.Integer({ minimum: 1 }), height: Type.Integer({ minimum: 1 }) }),
    layout: Type.Union(OUTPUT_LAYOUTS.map((l) => Type.Literal(l))),
    strides: Type.Array(Type.Integer({ minimum: 1 })),
    preprocess: PreprocessSchema,
    labels: Type.Literal("coco80"),
  },
  { additionalProperties: false },
);
export type ModelDescriptor = Static<typeof ModelDescriptorSchema>;

const ManifestSchema = Type.Object({
  $comment: Type.Optional(Type.String()),
  defaultModel: Type.String(),
  models: Type.Array(ModelDescriptorSchema),
});
export type Manifest = Static<typeof ManifestSchema>;

export const MANIFEST_PATH = new URL("../../models/manifest.json", import.meta.url);

let cached: Manifest | undefined;

/** The bundled model manifest, validated once. */
export function loadManifest(): Manifest {
  if (cached) return cached;
  const raw: unknown = JSON.parse(readFileSync(MANIFEST_PATH, "utf8"));
  const first = Value.Errors(ManifestSchema, raw).First();
  if (first) throw new Error(`models/manifest.json is invalid at ${first.path}: ${first.message}`);
  cached = raw as Manifest;
  return cached;
}

export function findModel(id: string): ModelDescriptor | undefined {
  return loadManifest().models.find((m) => m.id === id);
}

/** Licences that oblige a municipality to publish changes to the whole service; flagged wherever a model is chosen. */
export function licenseWarning(model: Pick<ModelDescriptor, "license" | "id">): string | undefined {
  if (!model.license.startsWith("AGPL")) return undefined;
  return `model ${model.id} is licensed ${model.license} (Ultralytics): using it in a networked service obliges you to offer the source of the whole service under AGPL-3.0. The default yolox-nano is Apache-2.0.`;
}

/** Default input description for models outside the manifest (Ultralytics exports). */
export function ultralyticsDefaults(
  width: number,
  height: number,
): Omit<ModelDescriptor, "id" | "name" | "file" | "url" | "sha256" | "otherSha256" | "bytes" | "license"> {
  return {
    input: { width, height },
    layout: "ultralytics",
    strides: [8, 16, 32],
    preprocess: {
      colorOrder: "rgb",
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      resize: "letterbox",
      padPlacement: "center",
      padValue: 114,
    },
    labels: "coco80",
  };
}
