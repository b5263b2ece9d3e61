# hostplan: every target works on a fresh Debian machine as root with only Go installed.
GO        ?= go
BIN       := bin
PKGS      := openssh-server openssh-client socat iptables iproute2 sudo patch diffutils etcd-server nftables dbus firewalld busybox
DEMO_DIR  ?= /tmp/hostplan-demo

.PHONY: bench-scale all build deps kube-bins test lint fuzz bench demo lab-clean clean

all: build

build:
	$(GO) build -o $(BIN)/hostplan ./cmd/hostplan
	$(GO) build -o $(BIN)/hostplan-lab ./internal/lab/cmd/hostplan-lab
	$(GO) build -o $(BIN)/hostplan-bench ./internal/lab/cmd/hostplan-bench

# deps installs the system packages the lab needs (apt-get update first, as on a fresh
# machine). A policy-rc.d that refuses service starts keeps packages such as firewalld
# and etcd from starting on this machine itself: the lab runs its own copies.
deps:
	@missing=""; for p in $(PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; rc=$$?; \
		if [ -n "$$guard" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
		exit $$rc; \
	fi

# kube-bins builds kube-apiserver and kubectl for the lab's kube clusters from the Go
# module proxy (~8 min on 2 cores), into $HOSTPLAN_KUBE_BIN_DIR or
# ~/.cache/hostplan/kube-v1.32.13; it does nothing when they are there already.
kube-bins:
	cd internal/lab/kubebuild && GO=$(GO) $(GO) run .

# lint also checks the layout of the repository's own plans and inventories with
# hostplan fmt (exit 3 lists the files to run 'hostplan fmt -recursive' on).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./cmd/hostplan fmt -check -recursive examples bench/plan bench/masters

# test is what CI runs: lint, then every test with the race detector, then each fuzz
# target for a short while. Lab tests must run (HOSTPLAN_LAB_REQUIRED=1 makes them fail
# rather than skip when they cannot).
test: deps lint kube-bins
	HOSTPLAN_LAB_REQUIRED=1 $(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) fuzz FUZZTIME=$(CI_FUZZTIME)

# fuzz runs every fuzz target for FUZZTIME; a finding is saved under the package's
# testdata/fuzz and fails the run. scripts/fuzz.sh repeats a run that Go's fuzz
# coordinator failed without a finding (go.dev/issue/75804 and 52569).
FUZZTIME ?= 60s
CI_FUZZTIME ?= 20s
FUZZ_TARGETS := \
	./internal/config:FuzzLoadPlan ./internal/config:FuzzNumberFunctions ./internal/config:FuzzExpression \
	./tasks:FuzzAttrsInt ./tasks:FuzzAttrsMode ./tasks:FuzzPorts \
	./inventory:FuzzINIInventory ./inventory:FuzzYAMLInventory ./inventory:FuzzHCLInventory \
	./internal/kubeyaml:FuzzEditStaticPod ./internal/kubeyaml:FuzzEditClusterConfiguration \
	./internal/netsh:FuzzParseShowV4ToV4 ./internal/netsh:FuzzParseShowRule \
	./internal/auditpolicy:FuzzValidate ./internal/auditpolicy:FuzzParseVersion \
	./internal/allowlist:FuzzDiffIPTables ./internal/firewall:FuzzZoneSettings \
	./internal/sshsig:FuzzParseSignature ./internal/sshsig:FuzzParseAllowedSigners
fuzz:
	GO=$(GO) sh scripts/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

# BENCH_N: lab host counts; BENCH_ROUNDS: rounds per measurement (medians reported);
# BENCH_LOAD_HOSTS: hosts for the load measurement (0 skips it); BENCH_FIREWALLD_EVERY:
# one host in this many runs firewalld (0: none).
BENCH_N ?= 20,50
BENCH_ROUNDS ?= 3
BENCH_LOAD_HOSTS ?= 50
BENCH_FIREWALLD_EVERY ?= 4
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(BIN)/hostplan-bench -n $(BENCH_N) -rounds $(BENCH_ROUNDS) -load-hosts $(BENCH_LOAD_HOSTS) -firewalld-every $(BENCH_FIREWALLD_EVERY) -hostplan $(BIN)/hostplan -plan bench/plan -out bench/results

# bench-scale: the cost curve of the masters' change up to 1,000 lab hosts (one round;
# minutes, and about 1,000 sshd processes at once at the top).
BENCH_SCALE_N ?= 20,50,200,1000
bench-scale: deps build
	$(BIN)/hostplan-bench -n $(BENCH_SCALE_N) -rounds 1 -mem-hosts 0 -load-hosts 0 -hostplan $(BIN)/hostplan -plan bench/masters -out bench/results

demo: deps build kube-bins
	DEMO_DIR=$(DEMO_DIR) sh scripts/demo.sh

lab-clean: build
	$(BIN)/hostplan-lab clean

clean:
	rm -rf $(BIN)
