"""Support code for Sextant's integration tests (real Envoy, gRPC's xDS client, raw HTTP/2)."""
