import cliProgress from "cli-progress";

/** A progress bar on stderr; silent when stderr is not a terminal (CI logs, pipes). */
export function progressBar(label: string, unit = ""): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total}${unit} | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
}
