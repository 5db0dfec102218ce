#!/usr/bin/env python3
"""A hostile OCI registry on loopback that points credentials elsewhere, for
Tests/EndToEndTests/PushAttackTests.swift.

    hostile_registry.py VARIANT DIR

Makes DIR/ca.crt (a test CA), DIR/certs (a system store holding only that CA) and a server
certificate for 127.0.0.2 and 127.0.0.3, then serves:

    registry  HTTPS on 127.0.0.2 (the host given to mirrorctl push --registry)
    other     HTTPS on 127.0.0.3 (another host, with a certificate the CA vouches for)
    plain     plain HTTP on 127.0.0.3

and writes "REGISTRY_PORT OTHER_PORT PLAIN_PORT" to DIR/ports once all three listen. Every request
that reaches any of them is appended to DIR/log as one line:

    SERVER METHOD PATH auth=AUTHORIZATION-or-- bytes=BODY_LENGTH

The registry speaks just enough of the distribution API for a push to go through: /v2/ and every
other path answer 401 with a Bearer challenge until a request carries the token, blobs are always
missing, uploads and manifests are accepted. Any /token path on any server hands out TOKEN.
VARIANT decides where the registry points:

    realm-http      the token realm is on plain HTTP (on the other host)
    realm-other     the token realm is on the other host, over HTTPS
    location-http   upload Locations point at the other host over plain HTTP
    location-other  upload Locations point at the other host over HTTPS
    location-basic  upload Locations point at the other host over HTTPS, which asks for HTTP basic
    redirect-http   blob HEADs are redirected (307) to the other host over plain HTTP
    redirect-other  the token realm (on the registry) and blob HEADs redirect (307) to the other
                    host over HTTPS
"""
import hashlib
import http.server
import os
import ssl
import subprocess
import sys
import threading

TOKEN = "hostile-token-7f3a"
REG, OTHER = "127.0.0.2", "127.0.0.3"


def make_certificates(d):
    """A CA and one server certificate with IP SANs for both hosts, made with openssl."""
    if os.path.exists(os.path.join(d, "ca.crt")):
        return
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=hostile test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=" + REG)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:%s,IP:%s\nextendedKeyUsage=serverAuth\n" % (REG, OTHER))
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    # A folder to mount over /etc/ssl/certs: the test CA as the whole system store, as a bundle
    # and hashed, for a TLS library that reads either.
    os.mkdir(os.path.join(d, "certs"))
    with open(os.path.join(d, "ca.crt")) as src, open(os.path.join(d, "certs", "ca-certificates.crt"), "w") as dst:
        dst.write(src.read())
    run("rehash", os.path.join(d, "certs"))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_name_ = "?"
    ports = {}
    variant = ""
    log_path = ""
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n > 0 else b""
        with Handler.lock, open(Handler.log_path, "a") as f:
            f.write("%s %s %s auth=%s bytes=%d\n" % (self.server_name_, self.command, self.path,
                                                    self.headers.get("Authorization", "-"), len(data)))
        return data

    def answer(self, status, headers=None, payload=b""):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def url(self, where, path):
        scheme, host = {"registry": ("https", REG), "other": ("https", OTHER), "plain": ("http", OTHER)}[where]
        return "%s://%s:%d%s" % (scheme, host, Handler.ports[where], path)

    def handle_any(self):
        data = self.body()
        path = self.path.split("?")[0]
        if path.endswith("/token"):
            if self.server_name_ == "registry" and Handler.variant == "redirect-other":
                return self.answer(307, {"Location": self.url("other", self.path)})
            return self.answer(200, {"Content-Type": "application/json"}, ('{"token": "%s"}' % TOKEN).encode())
        if self.server_name_ != "registry":
            return self.elsewhere(path)
        return self.registry(path, data)

    def elsewhere(self, path):
        """The other host: takes upload bytes, has no blob."""
        if self.command in ("PUT", "PATCH") and Handler.variant == "location-basic":
            return self.answer(401, {"WWW-Authenticate": 'Basic realm="storage"'})
        if self.command in ("PUT", "PATCH"):
            return self.answer(201 if self.command == "PUT" else 202, {"Location": path, "Range": "0-0"})
        return self.answer(404)

    def registry(self, path, data):
        v = Handler.variant
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            realm = {"realm-http": self.url("plain", "/token"), "realm-other": self.url("other", "/token")}.get(
                v, self.url("registry", "/token"))
            return self.answer(401, {"WWW-Authenticate": 'Bearer realm="%s",service="hostile"' % realm})
        if path == "/v2/":
            return self.answer(200)
        if "/blobs/uploads/" in path:
            return self.upload(path, data)
        if "/blobs/" in path:
            if v in ("redirect-http", "redirect-other"):
                return self.answer(307, {"Location": self.url("plain" if v == "redirect-http" else "other", "/blob" + path)})
            return self.answer(404)
        if "/manifests/" in path and self.command == "PUT":
            return self.answer(201, {"Docker-Content-Digest": "sha256:" + hashlib.sha256(data).hexdigest()})
        return self.answer(404)

    def upload(self, path, data):
        if self.command == "POST":
            where = {"location-http": "plain", "location-other": "other", "location-basic": "other"}.get(Handler.variant, "registry")
            return self.answer(202, {"Location": self.url(where, path + "u1"), "Range": "0-0"})
        if self.command == "PATCH":
            return self.answer(202, {"Location": path, "Range": "0-%d" % max(len(data) - 1, 0)})
        return self.answer(201)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def serve(name, host, context):
    handler = type(name, (Handler,), {"server_name_": name})
    server = http.server.ThreadingHTTPServer((host, 0), handler)
    if context:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    Handler.ports[name] = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main():
    variant, d = sys.argv[1], sys.argv[2]
    make_certificates(d)
    Handler.variant, Handler.log_path = variant, os.path.join(d, "log")
    open(Handler.log_path, "a").close()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    serve("registry", REG, context)
    serve("other", OTHER, context)
    serve("plain", OTHER, None)
    with open(os.path.join(d, "ports.tmp"), "w") as f:
        f.write("%d %d %d\n" % (Handler.ports["registry"], Handler.ports["other"], Handler.ports["plain"]))
    os.rename(os.path.join(d, "ports.tmp"), os.path.join(d, "ports"))
    # Bounded life: the test kills it, and it stops by itself in ten minutes regardless.
    threading.Event().wait(600)


if __name__ == "__main__":
    main()
