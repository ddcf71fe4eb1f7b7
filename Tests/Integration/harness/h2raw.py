"""Hand-built HTTP/2 frames over raw sockets, for peers that misbehave on purpose.

Only what the hostile-peer tests need: the client preface, SETTINGS, WINDOW_UPDATE,
HEADERS (HPACK literals, no Huffman, no indexing) and DATA frames, and a frame reader.
"""

import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
MAX_WINDOW = 2**31 - 1


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream & MAX_WINDOW) + payload


def settings(pairs: dict[int, int] | None = None, ack: bool = False) -> bytes:
    payload = b"".join(struct.pack(">HI", k, v) for k, v in (pairs or {}).items())
    return frame(SETTINGS, ACK if ack else 0, 0, payload)


def window_update(stream: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


def hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name: str, value: str) -> bytes:
    """Literal header field without indexing, new name (RFC 7541 6.2.2), plain strings."""
    n, v = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


def grpc_request_headers(path: str, authority: str) -> bytes:
    fields = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
              ("content-type", "application/grpc"), ("te", "trailers")]
    return b"".join(hpack_literal(k, v) for k, v in fields)


def headers(stream: int, block: bytes, end_stream: bool = False) -> bytes:
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)


def data(stream: int, payload: bytes, end_stream: bool = False) -> bytes:
    return frame(DATA, END_STREAM if end_stream else 0, stream, payload)


def grpc_message(payload: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(payload)) + payload


class RawH2:
    """A client connection driven by hand. Every read is bounded by a deadline."""

    def __init__(self, port: int, rcvbuf: int | None = None, window: int | None = None):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.buffer = b""
        self.eof = False
        self.next_stream = 1
        pairs = {SETTINGS_INITIAL_WINDOW_SIZE: window} if window else {}
        self.send(PREFACE + settings(pairs))
        if window:
            self.send(window_update(0, window - 65535))

    @classmethod
    def adopt(cls, sock: socket.socket, port: int) -> "RawH2":
        """Wrap an already connected socket without sending anything (for peers sending garbage)."""
        conn = cls.__new__(cls)
        conn.port, conn.sock, conn.buffer, conn.eof, conn.next_stream = port, sock, b"", False, 1
        return conn

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def open_grpc_stream(self, path: str) -> int:
        stream = self.next_stream
        self.next_stream += 2
        self.send(headers(stream, grpc_request_headers(path, f"127.0.0.1:{self.port}")))
        return stream

    def read_frames(self, timeout: float, until=None) -> list[tuple[int, int, int, bytes]]:
        """Frames as (type, flags, stream, payload) until `until(frame)` is true, EOF or timeout.

        SETTINGS from the server are ACKed, as a well-behaved client would.
        """
        frames = []
        deadline = time.monotonic() + timeout
        while not self.eof:
            while len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) < 9 + length:
                    break
                kind, flags = self.buffer[3], self.buffer[4]
                stream = int.from_bytes(self.buffer[5:9], "big") & MAX_WINDOW
                payload = self.buffer[9:9 + length]
                self.buffer = self.buffer[9 + length:]
                parsed = (kind, flags, stream, payload)
                frames.append(parsed)
                if kind == SETTINGS and not flags & ACK:
                    try:
                        self.send(settings(ack=True))
                    except OSError:
                        pass
                if until and until(parsed):
                    return frames
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.sock.settimeout(min(remaining, 0.5))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionError:
                self.eof = True
                break
            if not chunk:
                self.eof = True
            self.buffer += chunk
        return frames

    def abort(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), like a peer that vanished."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()
