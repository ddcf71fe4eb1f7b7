"""A hand-built ADS client on grpcio using the official xds-protos messages.

It decodes every resource with the official message class and reports unknown fields,
which is how the tests prove Sextant's hand-written proto subset is wire-compatible.
"""

import importlib
import pkgutil
import queue
import threading

import grpc
from google.protobuf import descriptor_pool, message_factory, unknown_fields
from google.protobuf.descriptor import FieldDescriptor

# Importing these registers the official types in the default descriptor pool.
from envoy.config.cluster.v3 import cluster_pb2  # noqa: F401
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: F401
from envoy.config.listener.v3 import listener_pb2  # noqa: F401
from envoy.config.route.v3 import route_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2  # noqa: F401
from envoy.service.discovery.v3 import discovery_pb2

ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/"
SOTW_METHOD = ADS + "StreamAggregatedResources"
DELTA_METHOD = ADS + "DeltaAggregatedResources"

PREFIX = "type.googleapis.com/"
CDS = PREFIX + "envoy.config.cluster.v3.Cluster"
LDS = PREFIX + "envoy.config.listener.v3.Listener"
RDS = PREFIX + "envoy.config.route.v3.RouteConfiguration"
EDS = PREFIX + "envoy.config.endpoint.v3.ClusterLoadAssignment"
HCM = PREFIX + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

DiscoveryRequest = discovery_pb2.DiscoveryRequest
DiscoveryResponse = discovery_pb2.DiscoveryResponse
DeltaDiscoveryRequest = discovery_pb2.DeltaDiscoveryRequest
DeltaDiscoveryResponse = discovery_pb2.DeltaDiscoveryResponse


def node(node_id: str, cluster: str, zone: str) -> base_pb2.Node:
    return base_pb2.Node(id=node_id, cluster=cluster, locality=base_pb2.Locality(zone=zone),
                         user_agent_name="sextant-wire-test")


# -- decoding with the official classes --------------------------------------------------

def message_class(full_name: str):
    """The official generated class for `full_name`, importing its package's modules if needed."""
    pool = descriptor_pool.Default()
    try:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))
    except KeyError:
        pass
    package = full_name.rsplit(".", 1)[0]
    try:
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__):
            if info.name.endswith("_pb2"):
                importlib.import_module(f"{package}.{info.name}")
    except ImportError:
        pass
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


def unpack(any_message):
    type_name = any_message.type_url.split("/")[-1]
    decoded = message_class(type_name)()
    decoded.ParseFromString(any_message.value)
    return decoded


def wire_problems(message, path: str = "") -> list[str]:
    """Every unknown field and every undecodable Any inside `message`, recursively (Anys unpacked)."""
    path = path or message.DESCRIPTOR.full_name
    problems = []
    unknown = unknown_fields.UnknownFieldSet(message)
    if len(unknown):
        numbers = sorted({f.field_number for f in unknown})
        problems.append(f"{path} ({message.DESCRIPTOR.full_name}): unknown field numbers {numbers}")
    if message.DESCRIPTOR.full_name == "google.protobuf.Any":
        try:
            inner = unpack(message)
        except (KeyError, TypeError) as error:
            return problems + [f"{path}: cannot resolve {message.type_url!r}: {error}"]
        except Exception as error:  # noqa: BLE001 - a DecodeError names the broken bytes
            return problems + [f"{path}: {message.type_url} does not decode: {error}"]
        return problems + wire_problems(inner, f"{path}<{inner.DESCRIPTOR.name}>")
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key, item in value.items():
                    problems += wire_problems(item, f"{path}.{field.name}[{key}]")
        elif field.is_repeated:
            for index, item in enumerate(value):
                problems += wire_problems(item, f"{path}.{field.name}[{index}]")
        else:
            problems += wire_problems(value, f"{path}.{field.name}")
    return problems


# -- the stream -----------------------------------------------------------------------------

class ADSStream:
    """One ADS stream: send() requests, recv() responses (bounded waits), close()."""

    def __init__(self, port: int, delta: bool = False, timeout: float = 60.0, method: str | None = None):
        self.delta = delta
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        request_type = DeltaDiscoveryRequest if delta else DiscoveryRequest
        response_type = DeltaDiscoveryResponse if delta else DiscoveryResponse
        method = self.channel.stream_stream(
            method or (DELTA_METHOD if delta else SOTW_METHOD),
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString)
        self._requests: queue.Queue = queue.Queue()
        self._responses: queue.Queue = queue.Queue()
        self._closed = threading.Event()
        self.call = method(self._request_iterator(), timeout=timeout)
        self._reader = threading.Thread(target=self._read, daemon=True, name="ads-reader")
        self._reader.start()

    def _request_iterator(self):
        while not self._closed.is_set():
            try:
                item = self._requests.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                return
            yield item

    def _read(self):
        try:
            for response in self.call:
                self._responses.put(response)
        except grpc.RpcError as error:
            self._responses.put(error)
        self._responses.put(None)

    def send(self, request) -> None:
        self._requests.put(request)

    def recv(self, timeout: float):
        """The next response; raises queue.Empty after `timeout` s, AssertionError if the stream ended."""
        item = self._responses.get(timeout=timeout)
        if item is None or isinstance(item, grpc.RpcError):
            raise AssertionError(f"ADS stream ended: {item!r}")
        return item

    def close(self) -> None:
        self._closed.set()
        self._requests.put(None)
        self.call.cancel()
        self._reader.join(timeout=5)
        self.channel.close()
