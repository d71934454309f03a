//! The stored fields of a registration entry, and sets of them: what an update writes, and
//! where two entries differ.

/// A field of a registration entry that a client writes (server-owned fields such as the
/// revision number are not among them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryField {
    SpiffeId,
    ParentId,
    Selectors,
    X509SvidTtl,
    FederatesWith,
    Admin,
    Downstream,
    ExpiresAt,
    DnsNames,
    StoreSvid,
    JwtSvidTtl,
    Hint,
}

impl EntryField {
    /// Every writable field.
    pub const ALL: [EntryField; 12] = [
        EntryField::SpiffeId,
        EntryField::ParentId,
        EntryField::Selectors,
        EntryField::X509SvidTtl,
        EntryField::FederatesWith,
        EntryField::Admin,
        EntryField::Downstream,
        EntryField::ExpiresAt,
        EntryField::DnsNames,
        EntryField::StoreSvid,
        EntryField::JwtSvidTtl,
        EntryField::Hint,
    ];

    /// The fields that make an entry the same entry (see SPIRE's "similar entry" rule): an entry
    /// is matched on them. They are updated only to write back an owned entry whose key was edited
    /// behind the operator's back, under the ID its declaration gives it.
    pub const KEY: [EntryField; 3] = [EntryField::SpiffeId, EntryField::ParentId, EntryField::Selectors];

    /// The field's name as a ClusterStaticEntry spells it, for messages and records.
    pub fn name(self) -> &'static str {
        match self {
            EntryField::SpiffeId => "spiffeID",
            EntryField::ParentId => "parentID",
            EntryField::Selectors => "selectors",
            EntryField::X509SvidTtl => "x509SVIDTTL",
            EntryField::FederatesWith => "federatesWith",
            EntryField::Admin => "admin",
            EntryField::Downstream => "downstream",
            EntryField::ExpiresAt => "expiresAt",
            EntryField::DnsNames => "dnsNames",
            EntryField::StoreSvid => "storeSVID",
            EntryField::JwtSvidTtl => "jwtSVIDTTL",
            EntryField::Hint => "hint",
        }
    }
}

/// A set of entry fields: the fields an update writes (the others keep their stored values), or
/// the fields in which two entries differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryMask(u16);

impl EntryMask {
    /// Every writable field.
    pub fn all() -> Self {
        EntryField::ALL.into_iter().collect()
    }

    /// The set with `field` added.
    pub fn with(self, field: EntryField) -> Self {
        Self(self.0 | 1 << field as u16)
    }

    pub fn contains(self, field: EntryField) -> bool {
        self.0 & (1 << field as u16) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The fields in either set.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The fields of the set, in the order of [`EntryField::ALL`].
    pub fn fields(self) -> impl Iterator<Item = EntryField> {
        EntryField::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

/// The fields by name, comma-separated (`x509SVIDTTL,dnsNames`), for logs.
impl std::fmt::Display for EntryMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fields().map(EntryField::name).collect();
        f.write_str(&names.join(","))
    }
}

impl FromIterator<EntryField> for EntryMask {
    fn from_iter<T: IntoIterator<Item = EntryField>>(fields: T) -> Self {
        fields.into_iter().fold(Self::default(), Self::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_shows_its_fields_by_name() {
        let mask: EntryMask = [EntryField::DnsNames, EntryField::X509SvidTtl].into_iter().collect();
        assert_eq!(mask.to_string(), "x509SVIDTTL,dnsNames");
        assert_eq!(EntryMask::default().to_string(), "");
    }

    #[test]
    fn a_mask_holds_exactly_the_fields_added() {
        let mask: EntryMask = [EntryField::Hint, EntryField::DnsNames].into_iter().collect();
        assert!(mask.contains(EntryField::Hint) && mask.contains(EntryField::DnsNames));
        assert!(!mask.contains(EntryField::SpiffeId) && !mask.contains(EntryField::Admin));
        assert_eq!(mask.fields().collect::<Vec<_>>(), [EntryField::DnsNames, EntryField::Hint]);
        assert!(EntryMask::default().is_empty());
        assert_eq!(EntryMask::all().fields().count(), 12);
    }

    #[test]
    fn union_joins_two_masks() {
        let key: EntryMask = EntryField::KEY.into_iter().collect();
        let hint = EntryMask::default().with(EntryField::Hint);
        let both = key.union(hint);
        assert_eq!(both.fields().count(), 4);
        assert!(both.contains(EntryField::Selectors) && both.contains(EntryField::Hint));
    }
}
