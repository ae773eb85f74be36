/** The page's calls to the counter's own API (same origin; the session cookie rides along). */

import type { LineCount } from "../domain/live.ts";
import type { RegionSetting } from "../domain/view.ts";

export type { LineCount, LiveCounts, LiveFrame, LivePosition, SetupStatus } from "../domain/live.ts";

let csrf: string | null = null;

export function setCsrf(token: string | null): void {
  csrf = token;
}

export interface Answer<T> {
  readonly status: number;
  readonly body: T;
}

export async function call<T>(method: string, url: string, body?: unknown): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (csrf && method !== "GET") headers["x-csrf-token"] = csrf;
  const res = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: text };
  }
  return { status: res.status, body: parsed as T };
}

export interface SessionInfo {
  readonly loginRequired: boolean;
  readonly authenticated: boolean;
  readonly csrf: string | null;
}

export type RelPoint = [number, number];

export interface LineDraft {
  name: string;
  points: RelPoint[];
  from: string;
  to: string;
  /** Keys the page does not edit (inboundTo, forwardTo …) go back as they came. */
  [other: string]: unknown;
}

export interface ZoneDraft {
  name: string;
  polygon: RelPoint[];
  dwellThresholdSec: number;
  [other: string]: unknown;
}

export type Anchor = "bottom-center" | "center" | "top-center";

export interface GeometryAnswer {
  readonly lines: LineDraft[];
  readonly zones: ZoneDraft[];
  readonly anchor: Anchor;
  readonly revision: string | null;
  /** Where the detector looks (`camera.region`); absent: the whole view. */
  readonly region?: {
    readonly setting: RegionSetting;
    readonly margin: number;
    readonly inputAspect: number | null;
  };
}

export interface Health {
  readonly model: string | null;
  readonly camera: { readonly state: string } | null;
  readonly broker: { readonly state: string };
  readonly database: { readonly state: string };
}

export interface Bucket {
  readonly bucketStart: string;
  readonly lines: readonly LineCount[];
}
