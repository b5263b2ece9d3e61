// Command hostplan-lab runs lab hosts (see package lab) for demos and manual tests.
//
//	hostplan-lab up [-n 3] [-name NAME] [-dir DIR] [-inventory FILE] [-user root] [-ready FILE] [-kube [-forwarders N]]
//	hostplan-lab clean [-root DIR]
//
// up starts a lab, writes the inventory and then the ready file (JSON describing the
// lab; written atomically, removed again at exit), and serves until SIGINT or SIGTERM,
// then stops the lab. With -kube, every host is also a kubeadm-style Kubernetes master
// (lab.StartKube; needs `make kube-bins`) before the ready file is written. clean
// removes labs whose owner process died.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hostplan/hostplan/internal/lab"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Args[2:])
	case "clean":
		err = clean(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "hostplan-lab: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostplan-lab:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  hostplan-lab up [-n 3] [-name NAME] [-dir DIR] [-inventory FILE] [-user root] [-ready FILE] [-kube [-forwarders N]]
  hostplan-lab clean [-root DIR]
`)
	os.Exit(2)
}

type readyHost struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	NetNS   string `json:"netns"`
}

type ready struct {
	Name             string      `json:"name"`
	Dir              string      `json:"dir"`
	PID              int         `json:"pid"`
	KnownHosts       string      `json:"known_hosts"`
	UserKey          string      `json:"user_key"`
	EncryptedUserKey string      `json:"encrypted_user_key"`
	Inventory        string      `json:"inventory,omitempty"`
	Hosts            []readyHost `json:"hosts"`
	Kube             *readyKube  `json:"kube,omitempty"`
}

type readyKube struct {
	Version      string   `json:"version"`
	EtcdEndpoint string   `json:"etcd_endpoint"`
	Masters      []string `json:"masters"`
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	n := fs.Int("n", 3, "number of hosts")
	name := fs.String("name", "", "lab name (default hp + random)")
	dir := fs.String("dir", "", "state directory (default "+lab.DefaultRoot+"/NAME)")
	inv := fs.String("inventory", "", "write an HCL inventory of the lab here")
	user := fs.String("user", "root", "login user for the inventory")
	readyFile := fs.String("ready", "", "write this JSON file once the lab is up")
	kube := fs.Bool("kube", false, "run a Kubernetes control plane (kube-apiserver static pods, one etcd) on every host but the forwarders")
	forwarders := fs.Int("forwarders", 0, "with -kube: the last N hosts are forwarders (group \"forwarders\", no control plane)")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("up: unexpected arguments %q", fs.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	start := time.Now()
	opts := lab.Options{Hosts: *n, Dir: *dir, Name: *name}
	if *kube {
		// The security-center example and kubeadm inventories call them masters.
		masters := *n - *forwarders
		if *forwarders < 0 || masters < 1 {
			return fmt.Errorf("up: -forwarders %d leaves no master of %d hosts", *forwarders, *n)
		}
		opts.Groups = func(i int) []string {
			if i >= masters {
				return []string{"lab", "forwarders"}
			}
			return []string{"lab", "masters"}
		}
	}
	l, err := lab.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := l.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "hostplan-lab:", err)
		}
	}()
	r := ready{Name: l.Name, Dir: l.Dir, PID: os.Getpid(), KnownHosts: l.KnownHosts, UserKey: l.UserKey, EncryptedUserKey: l.EncryptedUserKey}
	if *inv != "" {
		if r.Inventory, err = filepath.Abs(*inv); err != nil {
			return err
		}
		if err := l.WriteInventory(*inv, *user); err != nil {
			return err
		}
	}
	if *kube {
		kstart := time.Now()
		c, err := l.StartKube(ctx, lab.KubeOptions{Masters: l.Hosts[:*n-*forwarders]})
		if err != nil {
			return err
		}
		r.Kube = &readyKube{Version: c.Version, EtcdEndpoint: c.EtcdEndpoint}
		for _, m := range c.Masters {
			r.Kube.Masters = append(r.Kube.Masters, m.Name)
		}
		fmt.Fprintf(os.Stderr, "hostplan-lab: kube-apiserver %s on %d masters in %v (kubectl inside a host uses %s)\n",
			c.Version, len(c.Masters), time.Since(kstart).Round(time.Millisecond), lab.KubeAdminConf)
	}
	for _, h := range l.Hosts {
		r.Hosts = append(r.Hosts, readyHost{h.Name, h.Address, h.Port, h.NetNS})
		fmt.Fprintf(os.Stderr, "hostplan-lab: %s %s:%d\n  ssh -i %s -o UserKnownHostsFile=%s -p %d %s@%s\n  %s\n",
			h.Name, h.Address, h.Port, l.UserKey, l.KnownHosts, h.Port, *user, h.Address, h.EnterCommand())
	}
	if *readyFile != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		tmp := *readyFile + ".tmp"
		if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, *readyFile); err != nil {
			return err
		}
		defer os.Remove(*readyFile)
	}
	fmt.Fprintf(os.Stderr, "hostplan-lab: lab %s up (%d hosts in %v); Ctrl-C or SIGTERM stops it\n", l.Name, len(l.Hosts), time.Since(start).Round(time.Millisecond))
	<-ctx.Done()
	fmt.Fprintf(os.Stderr, "hostplan-lab: stopping lab %s\n", l.Name)
	return nil
}

func clean(args []string) error {
	fs := flag.NewFlagSet("clean", flag.ExitOnError)
	root := fs.String("root", lab.DefaultRoot, "directory holding lab state dirs")
	_ = fs.Parse(args)
	return lab.Clean(*root)
}
