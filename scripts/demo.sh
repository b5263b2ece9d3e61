#!/bin/sh
# Starts three lab hosts and runs examples/quickstart end to end against them:
# plan (diffs), apply, plan again (no changes). Run it through `make demo`.
set -u
DEMO_DIR=${DEMO_DIR:-/tmp/hostplan-demo}
EXAMPLE=${EXAMPLE:-examples/quickstart}
rm -rf "$DEMO_DIR" && mkdir -p "$DEMO_DIR"
INV="$DEMO_DIR/inventory.hcl"

bin/hostplan-lab up -n 3 -inventory "$INV" -ready "$DEMO_DIR/ready" >"$DEMO_DIR/lab.log" 2>&1 &
LAB=$!
trap 'kill $LAB 2>/dev/null; wait $LAB 2>/dev/null' EXIT INT TERM
i=0
while [ ! -f "$DEMO_DIR/ready" ]; do
	if ! kill -0 $LAB 2>/dev/null || [ $i -gt 300 ]; then
		echo "lab did not start:"; cat "$DEMO_DIR/lab.log"; exit 1
	fi
	i=$((i + 1)); sleep 0.1
done

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
step "hostplan plan -i $INV $EXAMPLE"
bin/hostplan plan -i "$INV" "$EXAMPLE"; rc=$?
echo "(exit code $rc: 2 means changes are planned)"
[ $rc -eq 2 ] || exit 1

step "hostplan apply --auto-approve -i $INV $EXAMPLE"
bin/hostplan apply --auto-approve -i "$INV" "$EXAMPLE" || exit 1

step "hostplan plan -i $INV $EXAMPLE (again: nothing left to change)"
bin/hostplan plan -i "$INV" "$EXAMPLE"; rc=$?
echo "(exit code $rc: 0 means no changes)"
[ $rc -eq 0 ] || exit 1
step "demo complete"
