# examples/security-center for `make bench`, the masters' part: audit log directory,
# audit policy and kube-apiserver static pod edit, all hosts at once. bench/masters
# links to this file for the scale curve (`make bench-scale`).
# The example's health gate and kubeadm-config record need a running kube-apiserver per
# host, which the benchmark's lab hosts do not have.

variable "cluster_id" {
  type    = string
  default = "bench"
}

locals {
  audit_log_dir     = "/var/log/kubernetes"
  audit_policy_file = "/etc/kubernetes/audit-policy.yaml"
  env_prefix        = "aliyun_logs_audit-${var.cluster_id}"
}

task "audit-logging" {
  on = ["lab"]

  directory "/var/log/kubernetes" {
    mode = "0700"
  }

  audit_policy "/etc/kubernetes/audit-policy.yaml" {}

  static_pod "/etc/kubernetes/manifests/kube-apiserver.yaml" {
    container = "kube-apiserver"
    flags = {
      "audit-log-path"      = "${local.audit_log_dir}/kubernetes.audit"
      "audit-log-maxage"    = "30"
      "audit-log-maxbackup" = "10"
      "audit-log-maxsize"   = "100"
      "audit-policy-file"   = local.audit_policy_file
    }
    env = {
      (local.env_prefix)             = "${local.audit_log_dir}/kubernetes.audit"
      "${local.env_prefix}_tags"     = "audit=apiserver"
      "${local.env_prefix}_product"  = "k8s-audit"
      "${local.env_prefix}_jsonfile" = "true"
    }
    volume_mount "k8s-audit" {
      mount_path = local.audit_log_dir
    }
    volume_mount "audit-policy" {
      mount_path = local.audit_policy_file
      read_only  = true
    }
    host_path_volume "k8s-audit" {
      path = local.audit_log_dir
      type = "DirectoryOrCreate"
    }
    host_path_volume "audit-policy" {
      path = local.audit_policy_file
      type = "FileOrCreate"
    }
  }
}
