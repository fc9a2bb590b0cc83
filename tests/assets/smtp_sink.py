"""An SMTP server on loopback for the tests (Debian's python3-aiosmtpd).

    python3 tests/assets/smtp_sink.py PORT DIR

Every message it accepts is written to DIR as one .eml file (written whole, then renamed).
It answers like real servers do for some recipients, chosen by their local part:
`inexistant…` is refused for good (550), `plustard…` is asked to come back later (451),
`lent…` gets its answer after 5 seconds. It prints "ready" once it listens.
"""
import asyncio
import os
import sys
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("inexistant"):
            return "550 5.1.1 Destinataire inconnu"
        if local.startswith("plustard"):
            return "451 4.3.0 Revenez plus tard"
        if local.startswith("lent"):
            await asyncio.sleep(5)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(self.directory, uuid.uuid4().hex)
        with open(name + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(name + ".tmp", name + ".eml")
        return "250 Message accepted"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
