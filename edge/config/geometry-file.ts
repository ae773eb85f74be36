import { type GeometryEdit, geometryRevision, removeAbandonedSaves, writeGeometry } from "./edit.ts";
import { ConfigError } from "./load.ts";
import type { Config } from "./schema.ts";

/** Lines, zones and the anchor as saved, with the revision of the file that now holds them. */
export interface SavedGeometry extends Pick<Config, "lines" | "zones"> {
  readonly anchor: Config["counting"]["anchor"];
  readonly revision: string;
}

/**
 * The device's YAML file as set-up sees it: its revision, which a save must name, and saves of new
 * lines and zones (validated with the whole configuration, comments kept, the previous version
 * beside it). Without a file (a counter started from a configuration in memory) nothing is saved.
 */
export class GeometryFile {
  constructor(
    readonly path: string | undefined,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Removes what saves killed mid-write left beside the file (the file itself is whole). */
  removeAbandonedSaves(): string[] {
    return this.path ? removeAbandonedSaves(this.path) : [];
  }

  /** The file's version now; null when there is no file or it cannot be read (nothing can be saved). */
  revision(): string | null {
    try {
      return this.path ? geometryRevision(this.path) : null;
    } catch {
      return null;
    }
  }

  /**
   * Saves `edit`; a problem throws `ConfigError` with its paths, a file changed since `revision`
   * throws `GeometryConflict`, and then nothing is written.
   */
  save(edit: GeometryEdit, revision?: string): SavedGeometry {
    if (!this.path)
      throw new ConfigError("(no file)", [
        "lines, zones: this counter was started without a configuration file to save them in",
      ]);
    const saved = writeGeometry(this.path, edit, this.env, revision);
    const { lines, zones, counting } = saved.config;
    return { lines, zones, anchor: counting.anchor, revision: saved.revision };
  }
}
