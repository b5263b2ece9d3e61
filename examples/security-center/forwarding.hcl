# Security Center onboarding, step 1: traffic forwarding (hybrid clusters whose API server
# is not reachable from the internet). The forwarder's port A reaches the on-prem API
# server at apiserver_address:apiserver_port. Windows forwarders (netsh) are not
# supported yet.

variable "apiserver_address" {
  type        = string
  description = "The on-prem API server's IPv4 address that the forwarders forward to."
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

task "forwarding" {
  on = ["forwarders"]

  # method "auto": firewalld when it runs (permanent + runtime rule), else iptables
  # (ip_forward, DNAT, FORWARD accepts, rules saved for boot). The plan says which.
  port_forward "apiserver" {
    listen_port = var.forward_port
    to_address  = var.apiserver_address
    to_port     = var.apiserver_port
    masquerade  = true
  }
}
