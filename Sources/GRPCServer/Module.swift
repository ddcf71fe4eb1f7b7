// Module GRPCServer.
