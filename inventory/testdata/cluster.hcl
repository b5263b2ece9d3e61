# Production Kubernetes cluster: control plane, forwarders and the operator's machine.

defaults {
  user          = "ops"
  port          = 22
  identity_file = "~/.ssh/id_ed25519"
  known_hosts   = "keys/known_hosts" # relative to this file
  bastion       = "jump@bastion.example.com:2222"
  become        = true
}

host "master-1" {
  address = "192.168.0.11"
  groups  = ["masters", "etcd"]
  vars = {
    node_ip = "192.168.0.11"
    weight  = 10
    primary = true
    labels  = ["control-plane", "etcd"]
    extra   = { a = 1, b = "two" }
  }
}

host "master-2" {
  address = "192.168.0.12"
  groups  = ["masters"]
  vars    = { node_ip = "192.168.0.12" }
}

host "forwarder" {
  address       = "203.0.113.5"
  user          = "centos"
  port          = 2222
  identity_file = ["keys/forwarder", "~/.ssh/id_rsa"]
  bastion       = "" # reachable directly
  become        = false
  become_user   = "admin"
  groups        = ["forwarders"]
  vars = {
    forward_port = 6443
    masquerade   = null
  }
}

host "workstation" {
  connection = "local"
}

group "masters" {
  vars = { role = "control-plane", weight = 1 }
}

group "k8s" {
  children = ["masters", "etcd"]
  vars     = { cluster = "prod", role = "node", weight = 0 }
}
