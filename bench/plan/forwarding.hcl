# The forwarders part: a port forward and the Security Center allowlist, on the same
# hosts. Method "auto", as in the example: through firewalld on the lab hosts that run
# it (make bench starts it on one host in four) and through iptables on the rest.
task "forwarding" {
  on = ["lab"]

  port_forward "apiserver" {
    listen_port = 16443
    to_address  = "10.0.0.5"
    to_port     = 6443
    masquerade  = true
    method      = "auto"
  }

  allowlist "security-center" {
    region = "cn-hangzhou"
    ports  = [6443, 16443]
    method = "auto"
  }
}
