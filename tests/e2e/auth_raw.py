# auth_raw.py CASE ADDR [ARGS] - clients (and one fake server) written from
# wire/PROTOCOL.md 3.4 alone, with Python's own hmac, that check what a
# ckpt-server started with --key does with each kind of peer. Prints
# "PASS name" / "FAIL name: why" lines. ADDR is unix:PATH or tcp:HOST:PORT.
#
#   nokey ADDR                    HELLO without a key: EACCES, session closed
#   wrongproof ADDR KEYFILE       a right HELLO, then an AUTH with a wrong proof
#   replay ADDR KEYFILE           a good handshake, then its frames replayed
#   early ADDR KEYFILE            a request other than AUTH after the challenge
#   claim ADDR KEYFILE JOB        a job key used for another job's name
#   good ADDR KEYFILE             a good handshake, then a STAT of the root
#   fakeserver PATH MODE          listen on unix:PATH, answer one HELLO with a
#                                 challenge whose proof is wrong (MODE badproof)
#                                 or with no challenge (MODE nochallenge), and
#                                 report whether the client sent anything after
import hashlib, hmac, os, socket, struct, sys

import rawwire
from rawwire import HELLO, F_ERROR, F_REPLY, Reporter, err_of, frame, read_frame, s_

STAT, AUTH = 9, 96
W_EACCES = 2  # table 6.1
OPT_OFFER, OPT_CHALLENGE = 1, 2
KIND_SERVER, KIND_JOB = 1, 2
report = Reporter()


def read_key(path):
    w = open(path).read().split()
    if w[1] == "server":
        return KIND_SERVER, b"", bytes.fromhex(w[2])
    return KIND_JOB, w[2].encode(), bytes.fromhex(w[3])


def proof(key, side, cn, sn, session, kind, job):
    label = b"ckpt-auth-1 client\0" if side == "C" else b"ckpt-auth-1 server\0"
    j = job if kind == KIND_JOB else b""
    msg = label + cn + sn + struct.pack(">QBH", session, kind, len(j)) + j
    return hmac.new(key, msg, hashlib.sha256).digest()


def connect(addr):
    return rawwire.Conn(addr, timeout=20).sk


def hello_payload(job, kind=0, nonce=b""):
    opt = struct.pack(">HHB", OPT_OFFER, 33, kind) + nonce if kind else b""
    return rawwire.hello_payload(job, b"auth_raw", opt)


def parse_hello(body):
    """(session, job, {tag: value})."""
    session = struct.unpack(">Q", body[11:19])[0]
    off = 23
    strs = []
    for _ in range(3):
        (n,) = struct.unpack(">H", body[off:off + 2])
        strs.append(body[off + 2:off + 2 + n])
        off += 2 + n
    opts = {}
    while off < len(body):
        tag, n = struct.unpack(">HH", body[off:off + 4])
        opts[tag] = body[off + 4:off + 4 + n]
        off += 4 + n
    return session, strs[1], opts


def closed(sk):
    try:
        return sk.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return False


def handshake(addr, kind, job, key, tamper=False):
    """A full handshake; returns (socket, sent bytes, errno of AUTH reply, server proof ok)."""
    sk = connect(addr)
    cn = os.urandom(32)
    h = frame(HELLO, hello_payload(job, kind, cn))
    sk.sendall(h)
    typ, flags, rid, body = read_frame(sk)
    if flags & F_ERROR:
        return sk, h, err_of(flags, body), False
    session, _, opts = parse_hello(body)
    ch = opts.get(OPT_CHALLENGE, b"")
    sn, sproof = ch[:32], ch[32:]
    sok = len(ch) == 64 and hmac.compare_digest(sproof, proof(key, "S", cn, sn, session, kind, job))
    p = proof(key, "C", cn, sn, session, kind, job)
    if tamper:
        p = bytes([p[0] ^ 1]) + p[1:]
    a = frame(AUTH, p, rid=2)
    sk.sendall(a)
    typ, flags, rid, body = read_frame(sk)
    return sk, h + a, err_of(flags, body), sok


def stat_root(sk):
    sk.sendall(frame(STAT, s_(b"") + struct.pack(">II", 0, 0), rid=3))
    typ, flags, rid, body = read_frame(sk)
    return err_of(flags, body)


def main():
    case, addr = sys.argv[1], sys.argv[2]
    if case == "nokey":
        sk = connect(addr)
        sk.sendall(frame(HELLO, hello_payload(b"somejob")))
        typ, flags, rid, body = read_frame(sk)
        report(err_of(flags, body) == W_EACCES, "no key: HELLO refused with EACCES", "flags %d body %r" % (flags, body[:40]))
        report(closed(sk), "no key: session closed")
    elif case == "wrongproof":
        kind, job, key = read_key(sys.argv[3])
        sk, _, err, sok = handshake(addr, kind, job or b"somejob", key, tamper=True)
        report(sok, "wrong proof: the server proved the key first")
        report(err == W_EACCES, "wrong proof: AUTH refused with EACCES", "errno %d" % err)
        report(closed(sk), "wrong proof: session closed")
    elif case == "replay":
        kind, job, key = read_key(sys.argv[3])
        sk, sent, err, sok = handshake(addr, kind, job or b"somejob", key)
        report(err == 0 and sok, "replay: the original handshake succeeds", "errno %d" % err)
        sk.close()
        sk = connect(addr)
        sk.sendall(sent[: struct.unpack(">I", sent[:4])[0]])
        typ, flags, rid, body = read_frame(sk)
        _, _, opts = parse_hello(body)
        report(OPT_CHALLENGE in opts, "replay: a fresh challenge")
        report(opts.get(OPT_CHALLENGE, b"")[:32] not in sent, "replay: the challenge differs from the recorded one")
        sk.sendall(sent[struct.unpack(">I", sent[:4])[0]:])
        typ, flags, rid, body = read_frame(sk)
        report(err_of(flags, body) == W_EACCES, "replay: recorded AUTH refused with EACCES", "flags %d" % flags)
        report(closed(sk), "replay: session closed")
    elif case == "early":
        kind, job, key = read_key(sys.argv[3])
        sk = connect(addr)
        sk.sendall(frame(HELLO, hello_payload(job or b"somejob", kind, os.urandom(32))))
        read_frame(sk)
        err = stat_root(sk)
        report(err == W_EACCES, "request before AUTH refused with EACCES", "errno %d" % err)
        report(closed(sk), "request before AUTH: session closed")
    elif case == "claim":
        kind, job, key = read_key(sys.argv[3])
        other = sys.argv[4].encode()
        sk, _, err, sok = handshake(addr, kind, other, key)
        report(not sok, "claim: the server's proof for another job does not match our job key")
        report(err == W_EACCES, "claim: a job key used as job %s refused" % other.decode(), "errno %d" % err)
    elif case == "good":
        kind, job, key = read_key(sys.argv[3])
        sk, _, err, sok = handshake(addr, kind, job or b"somejob", key)
        report(err == 0 and sok, "good key: handshake succeeds", "errno %d" % err)
        report(stat_root(sk) == 0, "good key: STAT after AUTH works")
    elif case == "fakeserver":
        path, mode = addr, sys.argv[3]
        ls = socket.socket(socket.AF_UNIX)
        ls.bind(path)
        ls.listen(4)
        ls.settimeout(30)
        sk, _ = ls.accept()
        sk.settimeout(10)
        typ, flags, rid, body = read_frame(sk)
        _, _, opts = parse_hello(body)
        r = struct.pack(">HBIIQI", 1, 1, 4096, 0, 77, 4259840) + s_(b"x86_64") + s_(b"") + s_(b"fake")
        if mode == "badproof":
            r += struct.pack(">HH", OPT_CHALLENGE, 64) + os.urandom(64)
        sk.sendall(frame(HELLO, r, rid=rid, flags=F_REPLY))
        try:
            more = sk.recv(1)
        except (ConnectionResetError, socket.timeout):
            more = b"?"
        report(OPT_OFFER in opts, "fake server (%s): the client offered its key" % mode)
        report(more == b"", "fake server (%s): the client sent nothing more and closed" % mode, "got %r" % more)
    else:
        print("FAIL unknown case %s" % case)
        sys.exit(2)
    sys.exit(1 if report.fails else 0)


main()
