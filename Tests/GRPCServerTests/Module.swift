// Tests for GRPCServer.
