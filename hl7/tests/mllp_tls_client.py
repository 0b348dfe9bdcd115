"""Independent TLS sender for the MLLP-over-TLS test: Python's ssl module wraps a TCP
socket (the server certificate checked against argv[3] for the name 127.0.0.1) and sends
one MLLP frame of the message in argv[4]; argv[2] "tls" or "plain" (plain MLLP to the
same port, which must be refused). Prints JSON: {"ack": str|null, "error": str|null}.
"""
import json
import socket
import ssl
import sys


def main(port, mode, cafile, path):
    with open(path, "rb") as f:
        frame = b"\x0b" + f.read() + b"\x1c\x0d"
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        if mode == "tls":
            ctx = ssl.create_default_context(cafile=cafile)
            sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
        sock.sendall(frame)
        buf = b""
        while not buf.endswith(b"\x1c\x0d"):
            chunk = sock.recv(4096)
            if not chunk:
                print(json.dumps({"ack": None, "error": "closed without an ACK"}))
                return
            buf += chunk
        print(json.dumps({"ack": buf[1:-2].decode("utf-8"), "error": None}))
    except (OSError, ssl.SSLError) as e:
        print(json.dumps({"ack": None, "error": repr(e)}))
    finally:
        sock.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
