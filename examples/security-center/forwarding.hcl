# Security Center onboarding, step 1: traffic forwarding (hybrid clusters whose API server
# is not reachable from the internet). The forwarder's port A reaches the on-prem API
# server at apiserver_address:apiserver_port. The same block serves every kind of
# forwarder the vendor procedure names:
#   - Linux with firewalld running (CentOS/RHEL style): its D-Bus API (busctl; else
#     firewall-cmd), permanent + runtime;
#   - Linux without firewalld: iptables DNAT/FORWARD/MASQUERADE, ip_forward, rules saved;
#   - Windows Server with OpenSSH for Windows: netsh interface portproxy plus an inbound
#     firewall rule "hostplan apiserver". Log in as an administrator (no become there).
# Set forward_method to pin one instead of "auto".

variable "apiserver_address" {
  type        = string
  default     = null
  description = "The on-prem API server's IPv4 address that the forwarders forward to, for an inventory of one cluster; a fleet sets apiserver_address as a var of each cluster's group."
}

variable "apiserver_port" {
  type    = number
  default = 6443
}

variable "forward_port" {
  type        = number
  default     = 8443
  description = "Port A on the forwarder, the one registered in the Security Center console."
}

variable "forward_method" {
  type        = string
  default     = "auto"
  description = "auto, firewalld, iptables or netsh."
}

task "forwarding" {
  on = ["forwarders"]

  # method "auto": netsh on Windows, firewalld when it runs, else iptables. The plan
  # says which it chose and why.
  port_forward "apiserver" {
    listen_port = var.forward_port
    to_address  = try(host.vars.apiserver_address, var.apiserver_address)
    to_port     = var.apiserver_port
    masquerade  = true # Linux only; the Windows port proxy connects from its own address
    method      = var.forward_method
  }
}
