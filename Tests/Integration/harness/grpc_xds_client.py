"""Run in a subprocess: dial an xds:/// target through gRPC's own xDS client and count who answers.

GRPC_XDS_BOOTSTRAP must be in the environment before grpc starts, which is why this is a
separate process. Prints one JSON line: {"answers": {name: count}, "error": str|null}.
Usage: python grpc_xds_client.py TARGET RPCS FIRST_RPC_TIMEOUT
"""

import json
import sys

import grpc

METHOD = "/test.Echo/Who"


def main() -> int:
    target, rpcs, first_timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    answers: dict[str, int] = {}
    error = None
    with grpc.insecure_channel(target) as channel:
        who = channel.unary_unary(METHOD)
        try:
            # The first RPC waits for the xDS resources (LDS -> RDS -> CDS -> EDS) to arrive.
            name = who(b"", timeout=first_timeout, wait_for_ready=True).decode()
            answers[name] = 1
            for _ in range(rpcs - 1):
                name = who(b"", timeout=5).decode()
                answers[name] = answers.get(name, 0) + 1
        except grpc.RpcError as rpc_error:
            error = f"{rpc_error.code()}: {rpc_error.details()}"
    print(json.dumps({"answers": answers, "error": error}), flush=True)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
