# Security Center onboarding, step 2: let the Security Center's addresses for the
# cluster's region reach the API server, where an access-control policy is in front of it.

variable "region" {
  type        = string
  default     = "cn-shanghai"
  description = "The Security Center region (VPC clusters: cn-hangzhou, cn-beijing, cn-shanghai, cn-shenzhen, cn-hongkong)."
}

task "allowlist" {
  on = ["masters"]

  allowlist "security-center" {
    region = var.region
    ports  = [var.apiserver_port]
  }
}
