import type { Anchor, GeometryAnswer, LineDraft, ZoneDraft } from "./api.ts";

/**
 * The lines, zones and anchor being edited on the set-up tab, the revision of the device file they
 * started from, and whether anything is unsaved. The drawing and the forms both edit through it, so
 * that neither holds arrays the other has replaced.
 */
export class GeometryDraft {
  lines: LineDraft[] = [];
  zones: ZoneDraft[] = [];
  anchor: Anchor = "bottom-center";
  revision: string | null = null;
  private unsaved = false;

  constructor(
    answer: GeometryAnswer,
    /** Called whenever `dirty` may have changed. */
    private readonly onDirty: (dirty: boolean) => void,
  ) {
    this.apply(answer);
  }

  get dirty(): boolean {
    return this.unsaved;
  }

  /** The device's geometry as the API answered it (loaded, saved, reloaded after a conflict). */
  apply(answer: GeometryAnswer): void {
    this.lines = structuredClone(answer.lines);
    this.zones = structuredClone(answer.zones);
    this.anchor = answer.anchor;
    this.revision = answer.revision;
    this.unsaved = false;
    this.onDirty(false);
  }

  /** Something was edited (a point moved, a name typed, a shape added or removed). */
  changed(): void {
    this.unsaved = true;
    this.onDirty(true);
  }

  /** The body of `PUT /api/geometry`. */
  toEdit(): { lines: LineDraft[]; zones: ZoneDraft[]; anchor: Anchor; revision?: string } {
    return {
      lines: this.lines,
      zones: this.zones,
      anchor: this.anchor,
      ...(this.revision ? { revision: this.revision } : {}),
    };
  }
}
