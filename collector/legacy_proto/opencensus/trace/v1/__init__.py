"""Generated protobuf modules (scripts/gen_protos.py); do not edit."""
