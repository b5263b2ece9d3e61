// Package allowlist knows the addresses the cloud Security Center connects
// from, per region, and turns them into firewalld rich rules or an iptables
// chain that lets them reach the API server's ports. It only builds and
// compares rule text; running the commands is the caller's job.
package allowlist

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hostplan/hostplan/internal/textdist"
)

// Region is one Security Center region: the public addresses it connects
// from over the internet, and the private range it uses inside a VPC.
type Region struct {
	Name       string // "cn-shanghai", "ap-northeast-1", ...
	City       string // "Shanghai", "Tokyo", ...
	Public     []netip.Addr
	Private    netip.Prefix
	VPCAllowed bool // clusters in a VPC may be onboarded in this region
}

type regionData struct {
	name, city string
	public     []string
	private    string
	vpc        bool
}

// regionTable is the vendor's table (domain brief, section 2) verbatim,
// including its oddities: us-east-1 lists cn-huhehaote's private range, and
// eu-central-1 and eu-west-1 share 172.16.0.0/20. The vendor names cities
// only for regions outside mainland China; the others are the region's
// usual city, for messages only.
var regionTable = []regionData{
	{"cn-hangzhou", "Hangzhou", []string{"47.96.166.214"}, "100.104.12.64/26", true},
	{"cn-shanghai", "Shanghai", []string{
		"139.224.15.48", "101.132.180.26", "47.100.18.171", "47.100.0.176",
		"139.224.8.64", "101.132.70.106", "101.132.156.228", "106.15.36.12",
		"139.196.168.125", "47.101.178.223", "47.101.220.176",
	}, "100.104.43.0/26", true},
	{"cn-qingdao", "Qingdao", []string{"47.104.111.68"}, "100.104.87.192/26", false},
	{"cn-beijing", "Beijing", []string{"47.95.202.245"}, "100.104.114.192/26", true},
	{"cn-zhangjiakou", "Zhangjiakou", []string{"39.99.229.195"}, "100.104.187.64/26", false},
	{"cn-huhehaote", "Hohhot", []string{"39.104.147.68"}, "100.104.36.0/26", false},
	{"cn-shenzhen", "Shenzhen", []string{"120.78.64.225"}, "100.104.250.64/26", true},
	{"cn-guangzhou", "Guangzhou", []string{"8.134.118.184"}, "100.104.111.0/26", false},
	{"cn-hongkong", "Hong Kong", []string{"8.218.59.176"}, "100.104.130.128/26", true},
	{"ap-northeast-1", "Tokyo", []string{"47.74.24.20"}, "100.104.69.0/26", false},
	{"ap-southeast-1", "Singapore", []string{"8.219.240.137"}, "100.104.67.64/26", false},
	{"us-west-1", "Silicon Valley", []string{"47.254.39.224"}, "100.104.145.64/26", false},
	{"us-east-1", "Virginia", []string{"47.252.4.238"}, "100.104.36.0/26", false},
	{"eu-central-1", "Frankfurt", []string{"47.254.158.71"}, "172.16.0.0/20", false},
	{"eu-west-1", "London", []string{"8.208.14.12"}, "172.16.0.0/20", false},
	{"ap-southeast-5", "Jakarta", []string{"149.129.238.99"}, "100.104.193.128/26", false},
}

// regions is regionTable parsed once; a typo in the table is a programming
// error caught by the first test run, hence MustParse.
var regions = func() map[string]Region {
	m := make(map[string]Region, len(regionTable))
	for _, d := range regionTable {
		r := Region{Name: d.name, City: d.city, Private: netip.MustParsePrefix(d.private), VPCAllowed: d.vpc}
		for _, a := range d.public {
			r.Public = append(r.Public, netip.MustParseAddr(a))
		}
		m[d.name] = r
	}
	return m
}()

// Names returns every region name, sorted.
func Names() []string {
	names := make([]string, 0, len(regions))
	for n := range regions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the region called name. An unknown name is an error that
// lists the valid ones and, when one is close (a typo, or the city's name),
// suggests it.
func Lookup(name string) (Region, error) {
	if r, ok := regions[name]; ok {
		return r.clone(), nil
	}
	msg := fmt.Sprintf("unknown Security Center region %q", name)
	if s := suggest(name); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return Region{}, fmt.Errorf("%s; valid regions: %s", msg, strings.Join(Names(), ", "))
}

// clone keeps callers from editing the shared table through Public.
func (r Region) clone() Region {
	r.Public = slices.Clone(r.Public)
	return r
}

func suggest(name string) string {
	in := strings.ToLower(strings.TrimSpace(name))
	if in == "" {
		return ""
	}
	best, bestDist := "", len(in)/3+2 // a few edits, more for long names
	for _, n := range Names() {
		r := regions[n]
		if strings.EqualFold(in, r.City) || strings.EqualFold(strings.ReplaceAll(in, " ", ""), strings.ReplaceAll(r.City, " ", "")) {
			return n
		}
		if d := textdist.Distance(in, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// Sources returns the source prefixes to allow for r: its public addresses
// as /32s (in the vendor's order) when public is set, then its private range
// when private is set. Whether a VPC cluster may use region r at all is
// Region.VPCAllowed's question, not this function's.
func Sources(r Region, public, private bool) []netip.Prefix {
	var out []netip.Prefix
	if public {
		for _, a := range r.Public {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	if private && r.Private.IsValid() {
		out = append(out, r.Private.Masked())
	}
	return out
}
