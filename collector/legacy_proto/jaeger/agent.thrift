# The Jaeger agent's UDP service (jaeger-idl thrift/agent.thrift), from the public
# wire specification: clients send one oneway emitBatch call per datagram, in the
# compact (port 6831) or binary (port 6832) protocol. emitZipkinBatch (Zipkin
# Thrift spans) is not accepted, as in the Go receiver, so it is left out.

include "jaeger.thrift"

service Agent {
  oneway void emitBatch(1: jaeger.Batch batch)
}
