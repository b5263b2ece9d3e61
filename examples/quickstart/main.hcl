variable "motd" {
  type    = string
  default = "Managed by hostplan"
}

task "base" {
  on = ["all"]

  directory "/etc/hostplan-demo" {
    mode = "0755"
  }

  file "/etc/hostplan-demo/motd" {
    content = "${var.motd} on ${host.name} (${host.facts.distro} ${host.facts.distro_version})\n"
    mode    = "0644"
  }

  command "first-run" {
    run     = "date -u > /etc/hostplan-demo/first-run"
    creates = "/etc/hostplan-demo/first-run"
  }
}
