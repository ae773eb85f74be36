// ONNX Runtime's official builds send usage telemetry to Microsoft on Linux too (the 1DS uploader:
// a device id under ~/.cache/Microsoft, DNS lookups of events.data.microsoft.com). A counter whose
// promise is that nothing leaves it but aggregate counts must not do that. The switch is read once,
// when ONNX Runtime creates its environment (the first session, in 1.30); importing this module before
// onnxruntime-node sets it in time however a bundler orders the rest. Both spellings: 1.30 reads
// ORT_DISABLE_TELEMETRY; later releases document ORT_TELEMETRY_DISABLED.
process.env.ORT_DISABLE_TELEMETRY = "1";
process.env.ORT_TELEMETRY_DISABLED = "1";

export {};
