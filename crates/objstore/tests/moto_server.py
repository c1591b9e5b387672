"""Serves S3 (moto) on 127.0.0.1 for tests, until its stdin closes.

Usage: python moto_server.py [BUCKET ...]
Binds 127.0.0.1 on a port chosen by the OS, creates the buckets, then prints one line
`READY <port>`. It exits when stdin reaches end of file, i.e. when the test process that
started it exits or closes the pipe, however it ends (even if it is killed).
Needs `moto[server]` (which brings boto3).
"""

import logging
import os
import sys

import boto3
from moto.server import ThreadedMotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
_, port = server.get_host_and_port()
s3 = boto3.client(
    "s3",
    endpoint_url=f"http://127.0.0.1:{port}",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    region_name="us-east-1",
)
for bucket in sys.argv[1:]:
    s3.create_bucket(Bucket=bucket)
print(f"READY {port}", flush=True)
sys.stdin.read()
os._exit(0)
