#!/bin/sh
# fuzz.sh FUZZTIME PKG:TARGET...: runs each fuzz target for FUZZTIME; a finding is kept
# under the package's testdata/fuzz and fails the run. Run it through `make fuzz`.
#
# Go 1.26's fuzz coordinator fails a run in two ways that are not findings, and such a
# run is repeated, up to twice:
#   - a bare "context deadline exceeded" as -fuzztime ends, writing no input
#     (go.dev/issue/75804, fixed in Go 1.27);
#   - "fuzzing process hung or terminated unexpectedly while minimizing: EOF", writing
#     an input that passes when run on its own (go.dev/issue/52569, open). Such an
#     input is run again, with a 20 s bound (a slow input is a finding too); only if
#     it passes is it moved to $FUZZ_IRREPRODUCIBLE, printed into the log, and the
#     failure taken for the coordinator's. Memory is not bounded in that run.
set -eu
fuzztime=$1
shift
go=${GO:-go}
irreproducible=${FUZZ_IRREPRODUCIBLE:-/tmp/hostplan-fuzz-irreproducible}

# inputs lists the saved inputs of a target, one name per line.
inputs() { ls "$1" 2>/dev/null || true; }

for t in "$@"; do
	pkg=${t%%:*}
	name=${t##*:}
	dir=$pkg/testdata/fuzz/$name
	echo "fuzz $name in $pkg for $fuzztime"
	before=$(inputs "$dir")
	tries=0
	until "$go" test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "$pkg"; do
		new=$(inputs "$dir" | grep -vxF "$before" || true)
		for f in $new; do
			if "$go" test -count=1 -timeout 20s -run "^$name/$f\$" "$pkg"; then
				mkdir -p "$irreproducible"
				mv "$dir/$f" "$irreproducible/$name-$f"
				echo "fuzz $name: input $f passes on its own within 20 s (go.dev/issue/52569); kept in $irreproducible:"
				head -c 4096 "$irreproducible/$name-$f"
				echo
			else
				echo "fuzz $name: input $f fails; it is in $dir"
				exit 1
			fi
		done
		tries=$((tries + 1))
		[ $tries -le 2 ] || exit 1
		echo "fuzz $name failed without a finding (go.dev/issue/75804 or 52569): again ($tries of 2)"
	done
done
