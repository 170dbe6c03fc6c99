"""SMTP sink for AlertTests (issue 12, alerts): aiosmtpd on 127.0.0.1 with STARTTLS required and
AUTH (PLAIN or LOGIN) required for one user/password. Each message received is parsed with the
standard library's email package (RFC 2047 subject, quoted-printable body decoded) and written as
<n>.json to the output directory. Writes the port to OUTDIR/port.txt once listening; exits when
stdin closes.

Run with the Debian python (python3-aiosmtpd): /usr/bin/python3 smtp_sink.py CERT KEY OUTDIR USER PASSWORD
"""
import email
import email.policy
import json
import os
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

cert, key, outdir, user, password = sys.argv[1:6]
# The test process starts us with its signal mask, where dispatch blocks SIGTERM: unblock it so
# terminate() ends us even if stdin is somehow left open.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])


class Sink:
    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "auth_mechanism": session.auth_data,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "headers": {k: str(v) for k, v in msg.items()},
            "body": msg.get_content(),
            "raw": raw.decode("latin-1"),
        }
        with self.lock:
            self.count += 1
            n = self.count
        tmp = os.path.join(outdir, ".%d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(outdir, "%d.json" % n))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode():
        return AuthResult(success=True, auth_data=mechanism)
    return AuthResult(success=False, handled=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
port = free_port()
controller = Controller(Sink(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                        auth_required=True, auth_require_tls=True, authenticator=authenticator)
controller.start()
with open(os.path.join(outdir, ".port.tmp"), "w") as f:
    f.write(str(port))
os.rename(os.path.join(outdir, ".port.tmp"), os.path.join(outdir, "port.txt"))
sys.stdin.read()
controller.stop()
