package config

import (
	neturl "net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// TargetKernelCI submits patches to KernelCI's pipeline API.
const TargetKernelCI = "kernelci"

// KernelCI configures a KernelCI target.
type KernelCI struct {
	// APIURL is the KernelCI API, where checkout nodes are looked up.
	APIURL string `yaml:"api_url" json:"api_url"`
	// PipelineURL is the KernelCI pipeline service that takes patchsets.
	PipelineURL string `yaml:"pipeline_url" json:"pipeline_url"`
	// DashboardURL, when set, is where people look at results.
	DashboardURL string `yaml:"dashboard_url,omitempty" json:"dashboard_url,omitempty"`
	// Token is where the pipeline JWT lives.
	Token secret.Source `yaml:"token" json:"token"`
	// JobFilter restricts the jobs the pipeline runs for a patchset.
	JobFilter []string `yaml:"jobfilter,omitempty" json:"jobfilter,omitempty"`
	// PlatformFilter restricts the platforms the pipeline runs on.
	PlatformFilter []string `yaml:"platformfilter,omitempty" json:"platformfilter,omitempty"`
	// PatchDomains are the hosts the pipeline fetches patches from: its
	// [patchset] allowed_domains. A Patchwork source that feeds the target
	// must be on one of them.
	PatchDomains []string `yaml:"patch_domains" json:"patch_domains"`
	// Submitters are the data submitters of the checkouts the pipeline makes
	// of branch heads; an entry ending in "*" matches by prefix.
	Submitters []string `yaml:"submitters" json:"submitters"`
	// CheckoutWait is how long a unit may wait for a checkout before the
	// wait is an error of the cycle.
	CheckoutWait Duration `yaml:"checkout_wait" json:"checkout_wait"`
}

// DefaultPatchDomains is the pipeline's default [patchset] allowed_domains
// (kernelci-pipeline config/kernelci.toml).
func DefaultPatchDomains() []string { return []string{"patchwork.kernel.org"} }

// DefaultSubmitters accepts the checkouts of the hosted instances
// (service:pipeline) and of a self-hosted pipeline, whose trigger service
// writes user:<email of its API user>.
func DefaultSubmitters() []string { return []string{"service:pipeline", "user:*"} }

// DefaultCheckoutWait is how long a unit may wait for a checkout before the
// wait is an error.
const DefaultCheckoutWait = Duration(6 * 60 * 60 * 1e9)

// domainRE is the form of a patch domain: a host name or an IPv4 address.
var domainRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// submitterRE is the form of a submitters entry: service:<name> or
// user:<email>, or a prefix of one ending in "*".
var submitterRE = regexp.MustCompile(`^(service|user):[^*\s]*\*?$`)

// kernelCI reads a target's kernelci block.
func (l *loader) kernelCI(f field) *KernelCI {
	o := l.object(f, "api_url", "pipeline_url", "dashboard_url", "token_file", "token_env", "jobfilter", "platformfilter",
		"patch_domains", "submitters", "checkout_wait")
	k := &KernelCI{
		APIURL:       l.httpURL(o.get("api_url"), true),
		PipelineURL:  l.httpURL(o.get("pipeline_url"), true),
		DashboardURL: l.httpURL(o.get("dashboard_url"), false),
		Token:        l.secret(o, true),
		CheckoutWait: l.duration(o.get("checkout_wait"), DefaultCheckoutWait),
	}
	k.JobFilter, _ = l.list(o.get("jobfilter"), nil, "")
	k.PlatformFilter, _ = l.list(o.get("platformfilter"), nil, "")
	var set bool
	df := o.get("patch_domains")
	if k.PatchDomains, set = l.list(df, domainRE, "a host name such as patchwork.kernel.org"); !set {
		k.PatchDomains = DefaultPatchDomains()
	} else if len(k.PatchDomains) == 0 && df.node != nil && len(df.node.Content) == 0 {
		l.errorf(df, "lists no host; leave patch_domains out for %s", strings.Join(DefaultPatchDomains(), ", "))
	}
	for i, d := range k.PatchDomains {
		k.PatchDomains[i] = strings.ToLower(d)
	}
	sf := o.get("submitters")
	if k.Submitters, set = l.list(sf, submitterRE, "a submitter such as service:pipeline or user:ci@example.org"); !set {
		k.Submitters = DefaultSubmitters()
	} else if len(k.Submitters) == 0 && sf.node != nil && len(sf.node.Content) == 0 {
		l.errorf(sf, "lists no submitter; leave submitters out for %s", strings.Join(DefaultSubmitters(), ", "))
	}
	return k
}

// checkPatchDomains reports a Patchwork source whose host is off the patch
// domains of a KernelCI target it feeds: the pipeline would accept its
// patches and fail every patchset later. block is the source's patchwork
// block.
func (l *loader) checkPatchDomains(s Source, block field) {
	if s.Patchwork == nil || s.Patchwork.URL == "" || block.node == nil {
		return
	}
	url := field{key: child(block.key, "url"), line: block.line}
	for i := 0; i+1 < len(block.node.Content); i += 2 {
		if k := block.node.Content[i]; k.Value == "url" {
			url.line = k.Line
		}
	}
	u, err := neturl.Parse(s.Patchwork.URL)
	if err != nil {
		return
	}
	host := strings.ToLower(u.Hostname())
	for _, name := range s.Targets {
		domains, ok := l.patchDomains[name]
		if ok && !slices.Contains(domains, host) {
			l.errorf(url, "host %s is not among the patch domains of target %s (%s): its pipeline would not fetch these patches; add it to that target's patch_domains (and to the pipeline's [patchset] allowed_domains)",
				host, name, strings.Join(domains, ", "))
		}
	}
}
