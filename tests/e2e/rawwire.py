# rawwire.py - framing for the raw-frame test clients (auth_raw.py,
# confine_raw.py, limits_raw.py), written from wire/PROTOCOL.md alone: no
# shim and no wire/ code, so the server is checked against the text.
import os, socket, struct, time

HELLO = 1
F_REPLY, F_ERROR = 1, 2


def s_(b):
    """A string field: u16 length, bytes."""
    return struct.pack(">H", len(b)) + b


def hello_payload(job=b"", peer=b"rawwire", options=b""):
    """A version-1 HELLO request from a little-endian x86_64 client."""
    return (struct.pack(">HBIIQI", 1, 1, 4096, os.getpid(), 0, 4259840) + s_(b"x86_64") + s_(job) + s_(peer)
            + options)


def frame(typ, payload, rid=1, flags=0):
    return struct.pack(">IHHQ", 16 + len(payload), typ, flags, rid) + payload


def recvn(sk, n):
    """Exactly n bytes from socket sk (EOFError if it closes first)."""
    b = b""
    while len(b) < n:
        c = sk.recv(n - len(b))
        if not c:
            raise EOFError("the server closed the connection")
        b += c
    return b


def read_frame(sk):
    """(type, flags, id, payload) of the next frame on socket sk."""
    length, typ, flags, rid = struct.unpack(">IHHQ", recvn(sk, 16))
    return typ, flags, rid, recvn(sk, length - 16)


def err_of(flags, body):
    """The wire errno of an error reply, 0 for a result."""
    return struct.unpack(">H", body[:2])[0] if flags & F_ERROR else 0


class Reporter:
    """PASS/FAIL lines, each name after PREFIX; fails counts the FAILs."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.fails = 0

    def __call__(self, ok, name, why=""):
        if ok:
            print("PASS %s%s" % (self.prefix, name))
        else:
            self.fails += 1
            print("FAIL %s%s: %s" % (self.prefix, name, why))


class Conn:
    """One connection to ADDR: a unix socket path, unix:PATH or tcp:HOST:PORT."""

    def __init__(self, addr, timeout=30):
        if addr.startswith("tcp:"):
            host, port = addr[4:].rsplit(":", 1)
            self.sk = socket.create_connection((host, int(port)), timeout=timeout)
        else:
            self.sk = socket.socket(socket.AF_UNIX)
            self.sk.settimeout(timeout)
            self.sk.connect(addr[5:] if addr.startswith("unix:") else addr)
        self.next_id = 1
        self.last_id = 0

    def recvn(self, n):
        return recvn(self.sk, n)

    def send(self, typ, payload):
        """Send a request; its id."""
        rid = self.last_id = self.next_id
        self.next_id += 1
        self.sk.sendall(frame(typ, payload, rid))
        return rid

    def read_frame(self):
        """(type, flags, id, payload) of the next frame."""
        return read_frame(self.sk)

    def reply(self, typ, rid):
        """(wire errno or 0, payload) of the reply to request rid of type typ."""
        rtyp, flags, rrid, body = self.read_frame()
        if rtyp != typ or rrid != rid or not flags & F_REPLY:
            raise ValueError("reply type %d id %d to request %d id %d" % (rtyp, rrid, typ, rid))
        return err_of(flags, body), body

    def call(self, typ, payload):
        return self.reply(typ, self.send(typ, payload))

    def hello(self, job=b"", peer=b"rawwire"):
        err, _ = self.call(HELLO, hello_payload(job, peer))
        if err:
            raise ValueError("HELLO refused: wire errno %d" % err)
        return self

    def closed_within(self, secs):
        """Seconds until the server closes the connection (None: not within secs)."""
        t0 = time.monotonic()
        self.sk.settimeout(secs)
        try:
            while self.sk.recv(4096):
                pass
        except (socket.timeout, TimeoutError):
            return None
        except ConnectionResetError:
            pass
        return time.monotonic() - t0
