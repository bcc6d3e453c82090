extension StringProtocol {
    /// The length of the text as JSON Schema's `minLength`/`maxLength` and PostgreSQL's
    /// `char_length` count it: Unicode code points, not Swift's grapheme clusters (a letter with
    /// combining marks is one `Character` but several code points). Length limits in validation
    /// use it, so that what the API documents, what it accepts and what the database's CHECKs
    /// allow agree.
    public var textLength: Int { unicodeScalars.count }
}
