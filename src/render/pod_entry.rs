//! ClusterSPIFFEID: one entry per selected pod, rendered from the resource's templates.

use k8s_openapi::{
    api::{core::v1::Node, discovery::v1::EndpointSlice},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

use super::{Error, merge_dns_names, service_dns_names};
use crate::{
    api::v1alpha1::ClusterSPIFFEIDSpec,
    duration,
    pod_view::PodView,
    selection,
    spiffe::{Entry, Selector, SpiffeId, TrustDomain},
    template::{ClusterInfo, Template, TemplateData, TemplateError},
};

/// A ClusterSPIFFEID spec with its templates parsed, ready to render many pods.
#[derive(Debug)]
pub struct PodIdentity {
    spiffe_id: Template,
    dns_names: Vec<Template>,
    selectors: Vec<Template>,
    x509_svid_ttl: i32,
    jwt_svid_ttl: i32,
    federates_with: Vec<TrustDomain>,
    admin: bool,
    downstream: bool,
    hint: String,
    pub auto_populate_dns_names: bool,
    pub fallback: bool,
    pub namespace_selector: Option<LabelSelector>,
    pub pod_selector: Option<LabelSelector>,
}

/// What every pod render shares: the cluster's names and the parent ID template.
pub struct PodContext<'a> {
    pub trust_domain: &'a TrustDomain,
    pub cluster_name: &'a str,
    pub cluster_domain: &'a str,
    pub parent_id: &'a Template,
}

impl PodContext<'_> {
    fn cluster(&self) -> ClusterInfo<'_> {
        ClusterInfo {
            trust_domain: self.trust_domain.as_str(),
            cluster_name: self.cluster_name,
            cluster_domain: self.cluster_domain,
        }
    }
}

fn template(field: &'static str, text: &str) -> Result<Template, Error> {
    Template::parse(text).map_err(|e| Error::Template { field, source: e })
}

impl PodIdentity {
    /// Parses a spec once: templates, selectors, durations and trust domains. Every error names
    /// the field.
    pub fn parse(spec: &ClusterSPIFFEIDSpec) -> Result<Self, Error> {
        let ttl = |field, v: Option<&str>| {
            v.map_or(Ok(0), |v| duration::parse_ttl_seconds(v).map_err(|source| Error::Duration { field, source }))
        };
        let label_selector = |field, s: &Option<LabelSelector>| match s {
            Some(s) => selection::check_selector(s)
                .map(|()| Some(s.clone()))
                .map_err(|e| Error::Invalid { field, message: e.to_string() }),
            None => Ok(None),
        };
        Ok(Self {
            spiffe_id: template("spiffeIDTemplate", &spec.spiffe_id_template)?,
            dns_names: spec
                .dns_name_templates
                .iter()
                .map(|t| template("dnsNameTemplates", t))
                .collect::<Result<_, _>>()?,
            selectors: spec
                .workload_selector_templates
                .iter()
                .map(|t| template("workloadSelectorTemplates", t))
                .collect::<Result<_, _>>()?,
            x509_svid_ttl: ttl("ttl", spec.ttl.as_deref())?,
            jwt_svid_ttl: ttl("jwtTtl", spec.jwt_ttl.as_deref())?,
            federates_with: spec
                .federates_with
                .iter()
                .map(|td| TrustDomain::parse(td).map_err(|source| Error::Value { field: "federatesWith", source }))
                .collect::<Result<_, _>>()?,
            admin: spec.admin.unwrap_or(false),
            downstream: spec.downstream.unwrap_or(false),
            hint: spec.hint.clone().unwrap_or_default(),
            auto_populate_dns_names: spec.auto_populate_dns_names.unwrap_or(false),
            fallback: spec.fallback.unwrap_or(false),
            namespace_selector: label_selector("namespaceSelector", &spec.namespace_selector)?,
            pod_selector: label_selector("podSelector", &spec.pod_selector)?,
        })
    }

    /// Renders the entry of one pod running on `node`. `slices` are the EndpointSlices of the
    /// pod's namespace, consulted when autoPopulateDNSNames is set.
    pub fn render<'a>(
        &self,
        context: &PodContext<'_>,
        pod: &PodView,
        node: &Node,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Result<Entry, Error> {
        let cluster = context.cluster();
        let data = TemplateData::for_pod(cluster, pod, node);
        let render =
            |field, t: &Template| t.render(&data).map_err(|source: TemplateError| Error::Template { field, source });

        let spiffe_id = parse_id("spiffeIDTemplate", &render("spiffeIDTemplate", &self.spiffe_id)?)?;
        check(spiffe_id.check_member_of(context.trust_domain), "spiffeIDTemplate")?;
        check(spiffe_id.check_workload_id(), "spiffeIDTemplate")?;

        let parent_text = context
            .parent_id
            .render(&TemplateData::for_parent_id(cluster, node))
            .map_err(|source| Error::Template { field: "parentIDTemplate", source })?;
        let parent_id = parse_id("parentIDTemplate", &parent_text)?;
        check(parent_id.check_member_of(context.trust_domain), "parentIDTemplate")?;
        check(parent_id.check_has_path(), "parentIDTemplate")?;

        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let mut selectors = vec![check(Selector::new("k8s", &format!("pod-uid:{uid}")), "metadata.uid")?];
        for t in &self.selectors {
            let text = render("workloadSelectorTemplates", t)?;
            selectors.push(check(Selector::parse(&text), "workloadSelectorTemplates")?);
        }

        let rendered_dns =
            self.dns_names.iter().map(|t| render("dnsNameTemplates", t)).collect::<Result<Vec<_>, _>>()?;
        let derived_dns = if self.auto_populate_dns_names {
            service_dns_names(slices, uid, context.cluster_domain)
        } else {
            Vec::new()
        };

        let mut entry = Entry::new(spiffe_id, parent_id, selectors);
        entry.dns_names = merge_dns_names(rendered_dns, derived_dns);
        entry.x509_svid_ttl = self.x509_svid_ttl;
        entry.jwt_svid_ttl = self.jwt_svid_ttl;
        entry.federates_with = self.federates_with.clone();
        entry.admin = self.admin;
        entry.downstream = self.downstream;
        entry.hint = self.hint.clone();
        check(entry.validate(), "spec")?;
        Ok(entry)
    }
}

fn parse_id(field: &'static str, text: &str) -> Result<SpiffeId, Error> {
    SpiffeId::parse(text).map_err(|source| Error::RenderedId { field, rendered: text.to_owned(), source })
}

fn check<T>(result: Result<T, crate::spiffe::Error>, field: &'static str) -> Result<T, Error> {
    result.map_err(|source| Error::Value { field, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::{
        api::core::v1::{Pod, PodSecurityContext, PodSpec},
        apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };

    fn pod() -> PodView {
        PodView::from(Pod {
            metadata: ObjectMeta {
                name: Some("web-1".into()),
                namespace: Some("shop".into()),
                uid: Some("pod-uid-1".into()),
                labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                service_account_name: Some("web-sa".into()),
                node_name: Some("node-a".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn node() -> Node {
        Node {
            metadata: ObjectMeta { name: Some("node-a".into()), uid: Some("node-uid-a".into()), ..Default::default() },
            ..Default::default()
        }
    }

    fn spec() -> ClusterSPIFFEIDSpec {
        ClusterSPIFFEIDSpec {
            spiffe_id_template:
                "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}".into(),
            ..Default::default()
        }
    }

    fn render_with(
        spec: &ClusterSPIFFEIDSpec,
        parent: &str,
        pod: &PodView,
        slices: &[EndpointSlice],
    ) -> Result<Entry, Error> {
        let td = TrustDomain::parse("example.org").unwrap();
        let parent = Template::parse(parent).unwrap();
        let context =
            PodContext { trust_domain: &td, cluster_name: "demo", cluster_domain: "cluster.local", parent_id: &parent };
        PodIdentity::parse(spec)?.render(&context, pod, &node(), slices)
    }

    const DEFAULT_PARENT: &str =
        "spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}";

    fn render(spec: &ClusterSPIFFEIDSpec) -> Result<Entry, Error> {
        render_with(spec, DEFAULT_PARENT, &pod(), &[])
    }

    #[test]
    fn the_default_identity_renders_like_spire_controller_manager() {
        let e = render(&spec()).unwrap();
        assert_eq!(e.spiffe_id.to_string(), "spiffe://example.org/ns/shop/sa/web-sa");
        assert_eq!(e.parent_id.to_string(), "spiffe://example.org/spire/agent/k8s_psat/demo/node-uid-a");
        let selectors: Vec<String> = e.selectors.iter().map(ToString::to_string).collect();
        assert_eq!(selectors, ["k8s:pod-uid:pod-uid-1"]);
        assert!(!e.store_svid);
    }

    #[test]
    fn every_field_is_rendered_or_copied() {
        let mut s = spec();
        s.workload_selector_templates =
            vec!["k8s:ns:{{ .PodMeta.Namespace }}".into(), "k8s:sa:{{ .PodSpec.ServiceAccountName }}".into()];
        s.dns_name_templates = vec!["{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}".into(), "web".into(), "web".into()];
        s.ttl = Some("1h".into());
        s.jwt_ttl = Some("5m".into());
        s.federates_with = vec!["partner.example.com".into()];
        s.admin = Some(true);
        s.downstream = Some(true);
        s.hint = Some("web".into());
        let e = render(&s).unwrap();
        let selectors: Vec<String> = e.selectors.iter().map(ToString::to_string).collect();
        assert_eq!(
            selectors,
            ["k8s:pod-uid:pod-uid-1", "k8s:ns:shop", "k8s:sa:web-sa"],
            "pod UID first, then templates"
        );
        assert_eq!(e.dns_names, ["web-1.shop", "web"], "in order, duplicates dropped");
        assert_eq!((e.x509_svid_ttl, e.jwt_svid_ttl), (3600, 300));
        assert_eq!(e.federates_with[0].as_str(), "partner.example.com");
        assert!(e.admin && e.downstream);
        assert_eq!(e.hint, "web");
    }

    #[test]
    fn a_custom_parent_template_sees_only_node_data() {
        let e =
            render_with(&spec(), "spiffe://{{ .TrustDomain }}/spire/agent/x509pop/{{ .NodeMeta.Name }}", &pod(), &[])
                .unwrap();
        assert_eq!(e.parent_id.path(), "/spire/agent/x509pop/node-a");
        let err = render_with(&spec(), "spiffe://{{ .TrustDomain }}/{{ .PodMeta.Name }}", &pod(), &[]).unwrap_err();
        assert!(err.to_string().starts_with("parentIDTemplate: "), "{err}");
    }

    #[test]
    fn render_failures_name_the_field() {
        type Mutation = fn(&mut ClusterSPIFFEIDSpec);
        let cases: Vec<(Mutation, &str)> = vec![
            (
                |s| s.spiffe_id_template = "spiffe://other.org/x".into(),
                "spiffeIDTemplate: SPIFFE ID spiffe://other.org/x is not in trust domain example.org",
            ),
            (
                |s| s.spiffe_id_template = "spiffe://example.org/spire/x".into(),
                "spiffeIDTemplate: SPIFFE ID spiffe://example.org/spire/x is under the reserved",
            ),
            (
                |s| s.spiffe_id_template = "spiffe://example.org/{{ .PodMeta.Labels.missing }}".into(),
                "spiffeIDTemplate: rendered SPIFFE ID \"spiffe://example.org/<no value>\" is invalid: path contains '<'",
            ),
            (
                |s| s.spiffe_id_template = "spiffe://example.org/{{ .PodSpec.SecurityContext.RunAsUser }}".into(),
                "spiffeIDTemplate: ",
            ),
            (|s| s.spiffe_id_template = "spiffe://example.org/{{ .Nope ".into(), "spiffeIDTemplate: "),
            (
                |s| s.workload_selector_templates = vec!["{{ .PodMeta.Name }}".into()],
                "workloadSelectorTemplates: selector \"web-1\" is not of the form",
            ),
            (|s| s.dns_name_templates = vec!["{{ .PodMeta.Name }}_x".into()], "spec: DNS name \"web-1_x\" is invalid"),
            (|s| s.ttl = Some("forever".into()), "ttl: "),
            (|s| s.federates_with = vec!["Nope".into()], "federatesWith: "),
        ];
        for (mutate, want) in cases {
            let mut s = spec();
            mutate(&mut s);
            let err = render(&s).unwrap_err().to_string();
            assert!(err.starts_with(want), "got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn an_invalid_rendered_id_is_shown() {
        let render_id = |template: &str, parent: &str| {
            let mut s = spec();
            s.spiffe_id_template = template.into();
            render_with(&s, parent, &pod(), &[]).unwrap_err().to_string()
        };
        let missing_label = render_id("spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Labels.team }}", DEFAULT_PARENT);
        assert_eq!(
            missing_label,
            "spiffeIDTemplate: rendered SPIFFE ID \"spiffe://example.org/ns/<no value>\" is invalid: \
             path contains '<'; only letters, digits, '.', '-' and '_' are allowed"
        );
        let nil_pointer = render_id("spiffe://{{ .TrustDomain }}/p/{{ .PodSpec.Priority }}", DEFAULT_PARENT);
        assert!(nil_pointer.contains(r#""spiffe://example.org/p/<nil>""#), "{nil_pointer}");
        assert_ne!(missing_label, nil_pointer, "different mistakes read differently");
        let parent =
            render_id(&spec().spiffe_id_template, "spiffe://{{ .TrustDomain }}/agent/{{ .NodeMeta.Labels.zone }}");
        assert_eq!(
            parent,
            "parentIDTemplate: rendered SPIFFE ID \"spiffe://example.org/agent/<no value>\" is invalid: \
             path contains '<'; only letters, digits, '.', '-' and '_' are allowed"
        );
        let scheme = render_id("{{ .PodMeta.Name }}", DEFAULT_PARENT);
        assert_eq!(
            scheme,
            "spiffeIDTemplate: rendered SPIFFE ID \"web-1\" is invalid: it does not start with spiffe://"
        );
    }

    #[test]
    fn every_invalid_rendered_dns_name_is_named() {
        let mut s = spec();
        s.dns_name_templates =
            vec!["{{ .PodMeta.Name }}_a".into(), "ok.example.org".into(), "{{ .PodMeta.Labels.team }}".into()];
        let err = render(&s).unwrap_err().to_string();
        assert_eq!(
            err,
            "spec: 2 DNS names are invalid: \"web-1_a\": labels may hold only letters, digits and '-'; \
             \"<no value>\": labels may hold only letters, digits and '-'"
        );
    }

    #[test]
    fn a_nil_security_context_fails_but_a_set_one_renders() {
        let mut s = spec();
        s.spiffe_id_template = "spiffe://example.org/uid/{{ .PodSpec.SecurityContext.RunAsUser }}".into();
        assert!(render(&s).is_err());
        let mut p = pod();
        p.spec.security_context = Some(Box::new(PodSecurityContext { run_as_user: Some(1000), ..Default::default() }));
        assert_eq!(render_with(&s, DEFAULT_PARENT, &p, &[]).unwrap().spiffe_id.path(), "/uid/1000");
    }

    #[test]
    fn service_names_are_appended_when_asked() {
        use k8s_openapi::api::{core::v1::ObjectReference, discovery::v1::Endpoint};
        let slice = EndpointSlice {
            metadata: ObjectMeta {
                namespace: Some("shop".into()),
                labels: Some([("kubernetes.io/service-name".to_owned(), "web".to_owned())].into()),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: Some(vec![Endpoint {
                addresses: vec!["10.0.0.1".into()],
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    uid: Some("pod-uid-1".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ports: None,
        };
        let mut s = spec();
        s.dns_name_templates = vec!["web.shop".into()];
        assert_eq!(
            render_with(&s, DEFAULT_PARENT, &pod(), std::slice::from_ref(&slice)).unwrap().dns_names,
            ["web.shop"]
        );
        s.auto_populate_dns_names = Some(true);
        let e = render_with(&s, DEFAULT_PARENT, &pod(), &[slice]).unwrap();
        assert_eq!(e.dns_names, ["web.shop", "web", "web.shop.svc", "web.shop.svc.cluster.local"]);
    }

    #[test]
    fn invalid_label_selectors_are_refused_at_parse() {
        let mut s = spec();
        s.pod_selector = Some(LabelSelector {
            match_expressions: Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                key: "a".into(),
                operator: "Matches".into(),
                values: None,
            }]),
            ..Default::default()
        });
        assert!(PodIdentity::parse(&s).unwrap_err().to_string().starts_with("podSelector: "));
    }
}
