/** The page's calls to the counter's own API (same origin; the session cookie rides along). */

import type { LineSetting, ZoneSetting } from "../api/contract.ts";
import type { LineCount } from "../domain/live.ts";

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

export type {
  ErrorAnswer,
  GeometryAnswer,
  HealthAnswer as Health,
  SessionAnswer as SessionInfo,
} from "../api/contract.ts";
/** The configuration as `GET /api/config` shows it (secrets as `***`). */
export type { Config as RedactedConfig } from "../config/schema.ts";
export type { Anchor } from "../domain/counting-settings.ts";

/** A line or zone being edited: as the API answers it (keys the page does not edit go back as they came). */
export type LineDraft = LineSetting;
export type ZoneDraft = ZoneSetting;
export type RelPoint = LineSetting["points"][number];

export interface Bucket {
  readonly bucketStart: string;
  readonly lines: readonly LineCount[];
}
