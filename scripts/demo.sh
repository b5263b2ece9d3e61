#!/bin/sh
# The flagship demo: three lab masters, each running a real kube-apiserver v1.32 as a
# kubeadm-style static pod, and one forwarder; examples/security-center (forwarding,
# allowlist, audit logging) run end to end against them:
# plan (diffs), apply (one master at a time, health-gated), plan again (no changes).
# Run it through `make demo`, which installs packages and builds the binaries first.
set -u
DEMO_DIR=${DEMO_DIR:-/tmp/hostplan-demo}
EXAMPLE=${EXAMPLE:-examples/security-center}
rm -rf "$DEMO_DIR" && mkdir -p "$DEMO_DIR"
INV="$DEMO_DIR/inventory.hcl"
VARS="--var cluster_id=${CLUSTER_ID:-c0ffee42} --var apiserver_address=192.168.0.11"

bin/hostplan-lab up -n 4 -kube -forwarders 1 -inventory "$INV" -ready "$DEMO_DIR/ready" >"$DEMO_DIR/lab.log" 2>&1 &
LAB=$!
trap 'kill $LAB 2>/dev/null; wait $LAB 2>/dev/null' EXIT INT TERM
echo "starting 3 lab masters with kube-apiserver and a forwarder (about 30 s; log: $DEMO_DIR/lab.log)"
i=0
while [ ! -f "$DEMO_DIR/ready" ]; do
	if ! kill -0 $LAB 2>/dev/null || [ $i -gt 1800 ]; then
		echo "lab did not start:"; cat "$DEMO_DIR/lab.log"; exit 1
	fi
	i=$((i + 1)); sleep 0.1
done

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
step "hostplan plan -i $INV $VARS $EXAMPLE"
bin/hostplan plan -i "$INV" $VARS "$EXAMPLE"; rc=$?
echo "(exit code $rc: 2 means changes are planned)"
[ $rc -eq 2 ] || exit 1

step "hostplan apply --auto-approve -i $INV $VARS $EXAMPLE"
bin/hostplan apply --auto-approve -i "$INV" $VARS "$EXAMPLE" || exit 1

step "hostplan plan -i $INV $VARS $EXAMPLE (again: nothing left to change)"
bin/hostplan plan -i "$INV" $VARS "$EXAMPLE"; rc=$?
echo "(exit code $rc: 0 means no changes)"
[ $rc -eq 0 ] || exit 1
step "demo complete"
