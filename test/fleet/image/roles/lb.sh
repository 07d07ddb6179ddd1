#!/bin/sh
# HAProxy in front of the app hosts; its configuration is written by the fleet and mounted at /fleet-lb.
set -eu
echo "lb ready"
exec haproxy -db -W -f /fleet-lb/haproxy.cfg
