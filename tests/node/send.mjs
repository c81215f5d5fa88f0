// The official OpenTelemetry JS SDK's OTLP exporters as a real client (tests/collector/test_node_exporters.py).
//
//   node tests/node/send.mjs --protocol grpc|http/protobuf|http/json --endpoint URL --count N --run ID
//                            [--compression gzip] [--signals traces,metrics,logs]
//
// Sends, with the resource {service.name: node-sender, test.run: ID} (merged over the SDK's default):
// - traces: N spans named "span <i>" with attribute i; span 0 is the parent of all the others;
// - metrics: one collection of counter "node.points" (one point per i, value i + 1), counter
//   "node.requests" (N increments of 1) and histogram "node.latency" (the values 0 .. N-1): N + 2 points;
// - logs: N records, body "record <i>" (every 10th a map {message, n}), attribute i, INFO / WARN,
//   timestamp 1700000000 s + i ns.
// The endpoint is the collector's base URL (http://127.0.0.1:PORT); the HTTP exporters get /v1/<signal>.
// Flushes and shuts every provider down, then exits 0, or 1 if any export failed (the SDK's errors
// are printed on stderr), or 2 on bad arguments, or 3 if it has not finished within 90 s.
import { context, diag, DiagConsoleLogger, DiagLogLevel, trace } from "@opentelemetry/api";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { setGlobalErrorHandler } from "@opentelemetry/core";
import { OTLPLogExporter as LogsGrpc } from "@opentelemetry/exporter-logs-otlp-grpc";
import { OTLPLogExporter as LogsJson } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as LogsProto } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPMetricExporter as MetricsGrpc } from "@opentelemetry/exporter-metrics-otlp-grpc";
import { OTLPMetricExporter as MetricsJson } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as MetricsProto } from "@opentelemetry/exporter-metrics-otlp-proto";
import { OTLPTraceExporter as TracesGrpc } from "@opentelemetry/exporter-trace-otlp-grpc";
import { OTLPTraceExporter as TracesJson } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as TracesProto } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

const EXPORTERS = {
  grpc: { traces: TracesGrpc, metrics: MetricsGrpc, logs: LogsGrpc },
  "http/protobuf": { traces: TracesProto, metrics: MetricsProto, logs: LogsProto },
  "http/json": { traces: TracesJson, metrics: MetricsJson, logs: LogsJson },
};

function usage(message) {
  process.stderr.write(`send.mjs: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { compression: "none", signals: "traces,metrics,logs" };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    const value = argv[i + 1];
    if (!key.startsWith("--") || value === undefined) usage(`bad argument ${key}`);
    args[key.slice(2)] = value;
  }
  for (const required of ["protocol", "endpoint", "count", "run"]) {
    if (args[required] === undefined) usage(`--${required} is required`);
  }
  if (!(args.protocol in EXPORTERS)) usage(`--protocol must be one of ${Object.keys(EXPORTERS).join(", ")}`);
  args.count = Number.parseInt(args.count, 10);
  if (!(args.count > 0)) usage("--count must be a positive integer");
  args.signals = args.signals.split(",");
  return args;
}

const args = parseArgs(process.argv.slice(2));
const watchdog = setTimeout(() => {
  process.stderr.write("send.mjs: not finished within 90 s\n");
  process.exit(3);
}, 90_000);
watchdog.unref();

const errors = [];
setGlobalErrorHandler((error) => {
  errors.push(error);
  process.stderr.write(`send.mjs: export error: ${error?.stack ?? error}\n`);
});
diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

function exporter(signal) {
  const Exporter = EXPORTERS[args.protocol][signal];
  const base = args.endpoint.replace(/\/+$/, "");
  const options = { url: args.protocol === "grpc" ? base : `${base}/v1/${signal}`, timeoutMillis: 30_000 };
  if (args.compression !== "none") options.compression = args.compression;
  return new Exporter(options);
}

const resource = defaultResource().merge(
  resourceFromAttributes({ "service.name": "node-sender", "test.run": args.run, "test.protocol": args.protocol }),
);
const N = args.count;

async function sendTraces() {
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [
      new BatchSpanProcessor(exporter("traces"), { maxExportBatchSize: 64, scheduledDelayMillis: 100 }),
    ],
  });
  const tracer = provider.getTracer("otel-lite.tests.node", "7.8.9");
  const root = tracer.startSpan("span 0", { attributes: { i: 0 } });
  const parent = trace.setSpan(context.active(), root);
  for (let i = 1; i < N; i++) {
    const span = tracer.startSpan(`span ${i}`, { attributes: { i, parity: i % 2 ? "odd" : "even" } }, parent);
    if (i % 10 === 0) span.addEvent("tenth", { n: i });
    span.end();
  }
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
}

async function sendMetrics() {
  // one collection: shutdown() collects and exports once (no interval export within the hour)
  const reader = new PeriodicExportingMetricReader({
    exporter: exporter("metrics"),
    exportIntervalMillis: 3_600_000,
    exportTimeoutMillis: 30_000,
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter("otel-lite.tests.node", "7.8.9");
  const points = meter.createCounter("node.points", { description: "one point per i" });
  const requests = meter.createCounter("node.requests", { unit: "1" });
  const latency = meter.createHistogram("node.latency", { unit: "ms" });
  for (let i = 0; i < N; i++) {
    points.add(i + 1, { i });
    requests.add(1, { route: "/a" });
    latency.record(i, { route: "/a" });
  }
  await provider.shutdown();
}

async function sendLogs() {
  const provider = new LoggerProvider({
    resource,
    processors: [
      new BatchLogRecordProcessor({ exporter: exporter("logs"), maxExportBatchSize: 64, scheduledDelayMillis: 100 }),
    ],
  });
  const logger = provider.getLogger("otel-lite.tests.node", "7.8.9");
  for (let i = 0; i < N; i++) {
    logger.emit({
      timestamp: [1_700_000_000, i],
      severityNumber: i % 2 ? SeverityNumber.WARN : SeverityNumber.INFO,
      severityText: i % 2 ? "WARN" : "INFO",
      body: i % 10 === 0 ? { message: `record ${i}`, n: i } : `record ${i}`,
      attributes: { i, parity: i % 2 ? "odd" : "even" },
    });
  }
  await provider.forceFlush();
  await provider.shutdown();
}

const SENDERS = { traces: sendTraces, metrics: sendMetrics, logs: sendLogs };
for (const signal of args.signals) {
  if (!(signal in SENDERS)) usage(`unknown signal ${signal}`);
}
await Promise.all(args.signals.map((signal) => SENDERS[signal]()));
process.stdout.write(`${JSON.stringify({ protocol: args.protocol, count: N, signals: args.signals, errors: errors.length })}\n`);
process.exit(errors.length ? 1 : 0);
