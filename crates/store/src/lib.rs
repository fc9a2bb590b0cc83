//! Storage for Aidants Connect: the diesel schema, one connection type over SQLite **and**
//! PostgreSQL (`DbConnection`, a diesel `MultiConnection`), r2d2 pools, the migrations of
//! both backends embedded in the binary, and the write-transaction helper.
//!
//! This crate holds no business rule: it knows tables, not what a mandate means. Other
//! crates write their queries against [`schema`] and run them inside [`write_transaction`].
//!
//! The transaction rule, by type: a function that writes takes a [`WriteTx`], which only
//! [`write_transaction`] builds; [`write_transaction`] takes a [`PooledDb`], a connection
//! straight from the pool, which a [`WriteTx`] never hands out. So a write cannot run outside
//! a transaction and a transaction cannot be opened inside another one: on both backends
//! alike (nesting would fail on SQLite and silently become a savepoint on PostgreSQL).

pub mod ids;
pub mod schema;
mod time;

pub use ids::{AidantId, AutorisationId, CardId, MandateId, OrganisationId, StaffId, UsagerId};
pub use time::Timestamp;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use ring::digest;
use ring::rand::SecureRandom;
use std::time::Duration;

/// Migrations of the PostgreSQL backend.
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// Migrations of the SQLite backend.
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

mod connection {
    //! The derive generates undocumented helper items, and its transaction manager begins
    //! transactions: hence the allowances on this module.
    #![allow(missing_docs, clippy::disallowed_methods)]
    use diesel::pg::PgConnection;
    use diesel::sqlite::SqliteConnection;

    /// One database connection, PostgreSQL or SQLite, behind a single diesel connection type.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// A PostgreSQL connection (national deployments).
        Pg(PgConnection),
        /// A SQLite connection (the embedded default).
        Sqlite(SqliteConnection),
    }
}
pub use connection::DbConnection;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names no backend we know.
    #[error("URL de base de données non reconnue (attendu postgres://… ou sqlite://…)")]
    UnknownBackend,
    /// The database could not be reached or opened.
    #[error("connexion à la base de données impossible: {0}")]
    Connection(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A migration failed.
    #[error("migration impossible: {0}")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The pool gave no connection in time.
    #[error("aucune connexion disponible: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// A query failed.
    #[error("requête en échec: {0}")]
    Query(#[from] diesel::result::Error),
    /// The system random generator failed.
    #[error("générateur aléatoire indisponible")]
    Random,
}

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (`postgres://` or `postgresql://`).
    Postgres,
    /// SQLite (`sqlite://path`, `sqlite::memory:` is refused since each connection would see its own database).
    Sqlite,
}

impl Backend {
    /// The backend named by a database URL, and the address to hand to the driver.
    pub fn from_url(url: &str) -> Result<(Backend, String), StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok((Backend::Postgres, url.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() || path.contains(":memory:") {
                return Err(StoreError::UnknownBackend);
            }
            Ok((Backend::Sqlite, path.to_owned()))
        } else {
            Err(StoreError::UnknownBackend)
        }
    }
}

/// Opens one connection to the database named by `url`, with the SQLite settings we rely on
/// (WAL, busy timeout, foreign keys).
pub fn establish(url: &str) -> Result<DbConnection, StoreError> {
    let (backend, address) = Backend::from_url(url)?;
    match backend {
        Backend::Postgres => PgConnection::establish(&address)
            .map(DbConnection::Pg)
            .map_err(|e| StoreError::Connection(e.into())),
        Backend::Sqlite => {
            let mut conn = SqliteConnection::establish(&address)
                .map_err(|e| StoreError::Connection(e.into()))?;
            conn.batch_execute(
                "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| StoreError::Connection(e.into()))?;
            // WAL is a property of the file: set once. Setting it again from connections
            // opened at the same moment makes them fail with "database is locked".
            if sqlite_journal_mode(&mut conn)? != "wal" {
                conn.batch_execute("PRAGMA journal_mode = WAL;")
                    .map_err(|e| StoreError::Connection(e.into()))?;
            }
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// The journal mode of a SQLite database (`wal`, `delete`…).
fn sqlite_journal_mode(conn: &mut SqliteConnection) -> Result<String, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let mode: Mode =
        diesel::RunQueryDsl::get_result(diesel::sql_query("PRAGMA journal_mode"), conn)
            .map_err(|e| StoreError::Connection(e.into()))?;
    Ok(mode.journal_mode.to_lowercase())
}

/// The r2d2 manager: opens connections of the backend the URL names (never guessing).
#[derive(Debug, Clone)]
pub struct DbManager {
    url: String,
}

impl ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConnection, StoreError> {
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        conn.ping().map_err(StoreError::Query)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// A pool of database connections.
pub type DbPool = Pool<DbManager>;
/// A connection borrowed from the pool.
pub type PooledDb = PooledConnection<DbManager>;

/// Builds a pool of at most `max_size` connections to `url` (checked by opening one).
/// With `test_on_checkout` every borrowed connection is pinged first (one more round trip per
/// request); without it a connection the database dropped fails one request, is then seen
/// broken and replaced. A request waits at most `wait` for a connection: when the database is
/// down it is told so quickly (see [`is_unavailable`]) instead of hanging.
pub fn pool(
    url: &str,
    max_size: u32,
    test_on_checkout: bool,
    wait: Duration,
) -> Result<DbPool, StoreError> {
    if Backend::from_url(url)?.0 == Backend::Sqlite {
        // One connection first, alone: it puts the file in WAL mode before the pool opens
        // its connections side by side.
        establish(url)?;
    }
    Pool::builder()
        .max_size(max_size.max(1))
        .test_on_check_out(test_on_checkout)
        .connection_timeout(wait)
        .build(DbManager {
            url: url.to_owned(),
        })
        .map_err(StoreError::Pool)
}

/// Whether `error`, or an error it was caused by, says the database cannot serve now (no
/// connection in time, connection lost, server shutting down, disk full, locked too long)
/// rather than that a query is wrong: the request may be tried again later (HTTP 503).
pub fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<diesel::r2d2::PoolError>().is_some() {
            return true;
        }
        if let Some(StoreError::Pool(_) | StoreError::Connection(_)) =
            e.downcast_ref::<StoreError>()
        {
            return true;
        }
        if let Some(query) = e.downcast_ref::<diesel::result::Error>() {
            if query_unavailable(query) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// Whether a query failed because the database cannot serve now.
fn query_unavailable(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message().to_lowercase();
            [
                "database or disk is full",
                "disk i/o error",
                "database is locked",
                "no space left on device",
                "could not extend file",
                "terminating connection",
                "the database system is",
                "server closed the connection",
                "no connection to the server",
                "connection to server",
            ]
            .iter()
            .any(|m| message.contains(m))
        }
        Error::RollbackErrorOnCommit { commit_error, .. } => query_unavailable(commit_error),
        _ => false,
    }
}

/// Applies every pending migration of the connection's backend; returns how many ran.
pub fn migrate(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let applied = match conn {
        DbConnection::Pg(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(StoreError::Migration)
}

/// A write transaction in progress: what every function that writes takes. Only
/// [`write_transaction`] builds one; it lives for the transaction's closure.
///
/// Writing inside the caller's transaction:
/// ```
/// fn touch(tx: &mut store::WriteTx<'_>) -> Result<(), diesel::result::Error> {
///     diesel::connection::SimpleConnection::batch_execute(tx.conn(), "SELECT 1")
/// }
/// fn run(pooled: &mut store::PooledDb) -> Result<(), diesel::result::Error> {
///     store::write_transaction(pooled, |tx| touch(tx))
/// }
/// ```
/// Opening a transaction inside another does not compile:
/// ```compile_fail
/// fn run(pooled: &mut store::PooledDb) -> Result<(), diesel::result::Error> {
///     store::write_transaction(pooled, |tx| {
///         store::write_transaction(tx.conn(), |_| Ok::<(), diesel::result::Error>(()))
///     })
/// }
/// ```
pub struct WriteTx<'c> {
    conn: &'c mut DbConnection,
}

impl WriteTx<'_> {
    /// The connection, for the statements of this transaction.
    pub fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }
}

impl std::fmt::Debug for WriteTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTx(..)")
    }
}

/// Runs `f` in a transaction that holds the write lock from its first statement on SQLite
/// (`BEGIN IMMEDIATE`, so two writers never deadlock on a lock upgrade) and a plain
/// transaction on PostgreSQL. Commits when `f` succeeds, rolls back otherwise.
///
/// It takes a connection from the pool, not a bare [`DbConnection`]: the [`WriteTx`] given to
/// `f` only lends a bare one, so no code inside the transaction can open another.
#[allow(clippy::disallowed_methods)] // The one place where transactions begin.
pub fn write_transaction<T, E, F>(pooled: &mut PooledDb, f: F) -> Result<T, E>
where
    F: FnOnce(&mut WriteTx<'_>) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let conn: &mut DbConnection = pooled;
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Pg(_) => DbConnection::begin_transaction(conn)?,
    }
    match f(&mut WriteTx { conn }) {
        // A top-level COMMIT that fails is rolled back by diesel itself (it reports
        // `RollbackErrorOnCommit` if that fails too): nothing is left to undo here.
        Ok(value) => DbConnection::commit_transaction(conn)
            .map(|()| value)
            .map_err(E::from),
        Err(e) => {
            if let Err(rollback) = DbConnection::rollback_transaction(conn) {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

/// Declares an enum stored as its text name on both backends —
/// `enum Name(Error, unknown) { Variant = "name", … }` — with `Debug, Clone, Copy, PartialEq,
/// Eq` and the diesel derives, `as_str(self)`, `parse(&str) -> Result<Name, Error>` (an
/// unknown name is `unknown(name)`) and the diesel conversions. Its columns are then read and
/// compared as the enum, never as a string; an unknown name in the database fails the read.
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// #[error("inconnu: {0}")]
/// pub struct Unknown(String);
/// store::text_enum! {
///     /// A colour.
///     pub enum Colour(Unknown, Unknown) {
///         /// Red.
///         Red = "rouge",
///         /// Blue.
///         Blue = "bleu",
///     }
/// }
/// assert_eq!(Colour::parse("bleu").unwrap(), Colour::Blue);
/// assert_eq!(Colour::Red.as_str(), "rouge");
/// assert!(Colour::parse("vert").is_err());
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($error:ty, $unknown:expr) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            diesel::expression::AsExpression,
            diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// Parses a stored name.
            pub fn parse(value: &str) -> Result<$name, $error> {
                match value {
                    $( $text => Ok($name::$variant), )+
                    other => Err(($unknown)(other.to_owned())),
                }
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let name =
                    <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(
                        bytes,
                    )?;
                Ok(<$name>::parse(&name)?)
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }
    };
}

/// Rows per bulk `INSERT` on SQLite: 1,000 rows of at most 32 columns stay under SQLite's
/// limit of 32,766 bound parameters.
pub const SQLITE_BULK_ROWS: usize = 1_000;

/// Inserts many rows of one table in as few statements as the backend allows: one binary
/// `COPY` on PostgreSQL, multi-row `INSERT`s of [`SQLITE_BULK_ROWS`] rows on SQLite. `$rows`
/// is a slice or `&Vec` of a `#[derive(Insertable)]` type with
/// `treat_none_as_default_value = false`. Expands to statements that use `?` on diesel errors.
#[macro_export]
macro_rules! bulk_insert {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::DbConnection::Pg(c) => {
                diesel::prelude::ExecuteCopyFromDsl::execute(
                    diesel::copy_from($table).from_insertable($rows),
                    c,
                )?;
            }
            $crate::DbConnection::Sqlite(c) => {
                for chunk in $rows.chunks($crate::SQLITE_BULK_ROWS) {
                    diesel::RunQueryDsl::execute(diesel::insert_into($table).values(chunk), c)?;
                }
            }
        }
    };
}

/// Commits a write to the readiness probe's row: whether the database accepts writes now
/// (a database that answers reads may still refuse them: disk full, read-only replica).
pub fn probe_write(conn: &mut PooledDb, now: Timestamp) -> Result<(), StoreError> {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    write_transaction(conn, |tx| {
        diesel::update(schema::readiness_probe::table.find(1))
            .set(schema::readiness_probe::checked_at.eq(now))
            .execute(tx.conn())
            .map(|_| ())
            .map_err(StoreError::Query)
    })
}

/// Free space, in bytes, on the filesystem that holds a SQLite database (`None` for
/// PostgreSQL, whose server watches its own disk, or when it cannot be read).
pub fn sqlite_free_bytes(url: &str) -> Option<u64> {
    let (Backend::Sqlite, path) = Backend::from_url(url).ok()? else {
        return None;
    };
    let path = std::path::Path::new(&path);
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Whether the database answers (`SELECT 1`).
pub fn ping(conn: &mut DbConnection) -> Result<(), StoreError> {
    diesel::RunQueryDsl::execute(diesel::sql_query("SELECT 1"), conn)
        .map(|_| ())
        .map_err(StoreError::Query)
}

/// A new random identifier (128 bits, hexadecimal) for a row.
pub fn new_id(rng: &dyn SecureRandom) -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes).map_err(|_| StoreError::Random)?;
    Ok(hex::encode(bytes))
}

/// The `LIKE` patterns (with `\` as the escape character) finding `term` anywhere in a
/// text, and at its start: `%` and `_` in the term match themselves.
pub fn like_patterns(term: &str) -> (String, String) {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    (format!("%{escaped}%"), format!("{escaped}%"))
}

/// How a secret (code, access token, session token) is kept at rest: its SHA-256, in hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// A throwaway SQLite database file, migrated, removed when dropped: what the unit tests of
/// the crates above `store` run against (feature `scratch`, enabled by their
/// dev-dependencies only).
#[cfg(feature = "scratch")]
pub struct Scratch {
    pool: DbPool,
    path: std::path::PathBuf,
}

#[cfg(feature = "scratch")]
impl Scratch {
    /// A new empty database with every migration applied.
    pub fn new() -> Result<Scratch, StoreError> {
        let mut name = [0u8; 8];
        ring::rand::SystemRandom::new()
            .fill(&mut name)
            .map_err(|_| StoreError::Random)?;
        let path = std::env::temp_dir().join(format!("ac-scratch-{}.db", hex::encode(name)));
        let url = format!("sqlite://{}", path.display());
        let scratch = Scratch {
            pool: pool(&url, 2, false, Duration::from_secs(10))?,
            path,
        };
        migrate(&mut *scratch.conn()?)?;
        Ok(scratch)
    }

    /// A connection to it.
    pub fn conn(&self) -> Result<PooledDb, StoreError> {
        self.pool.get().map_err(StoreError::Pool)
    }
}

#[cfg(feature = "scratch")]
impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            // Best effort: a file left in the temporary directory is harmless.
            let _ = std::fs::remove_file(file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_read_from_the_url_scheme() {
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok().map(|b| b.0),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("sqlite://data/ac.db").ok(),
            Some((Backend::Sqlite, "data/ac.db".to_owned()))
        );
        assert!(Backend::from_url("mysql://x").is_err());
        assert!(Backend::from_url("sqlite://:memory:").is_err());
        assert!(Backend::from_url("sqlite://").is_err());
    }

    #[test]
    fn secrets_are_hashed_with_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Captures what `f` logs.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_failed_commit_is_rolled_back_once_without_a_misleading_warning() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let mut conn = pool(&url, 1, false, Duration::from_secs(5))
            .unwrap()
            .get()
            .unwrap();
        conn.batch_execute(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY); \
             CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        let log = logged(|| {
            // The deferred foreign key is only checked at COMMIT, which fails.
            let outcome: Result<(), diesel::result::Error> = write_transaction(&mut conn, |tx| {
                tx.conn().batch_execute("INSERT INTO child VALUES (42)")
            });
            let error = outcome.unwrap_err().to_string();
            assert!(error.contains("FOREIGN KEY"), "{error}");
        });
        assert!(!log.contains("rollback"), "{log}");
        // Nothing was written, and the connection is out of the transaction, usable again.
        let ok: Result<(), diesel::result::Error> = write_transaction(&mut conn, |tx| {
            tx.conn()
                .batch_execute("INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1)")
        });
        ok.unwrap();
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let count: Count = diesel::RunQueryDsl::get_result(
            diesel::sql_query("SELECT COUNT(*) AS n FROM child"),
            &mut *conn,
        )
        .unwrap();
        assert_eq!(count.n, 1);
    }

    #[test]
    fn outages_are_told_apart_from_wrong_queries() {
        use diesel::result::{DatabaseErrorKind, Error};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let mut conn = establish(&url).unwrap();
        let wrong = conn
            .batch_execute("SELECT * FROM no_such_table")
            .unwrap_err();
        assert!(!is_unavailable(&StoreError::Query(wrong)));
        conn.batch_execute("CREATE TABLE t (x BLOB); PRAGMA max_page_count = 2;")
            .unwrap();
        let full = conn
            .batch_execute("INSERT INTO t VALUES (zeroblob(100000))")
            .unwrap_err();
        assert!(full.to_string().contains("full"), "{full}");
        assert!(is_unavailable(&StoreError::Query(full)));
        let closed =
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new(String::new()));
        assert!(is_unavailable(&StoreError::Query(closed)));
        let timeout = pool(
            "sqlite:///nonexistent-dir/x.db",
            1,
            false,
            Duration::from_millis(50),
        );
        assert!(timeout.is_err_and(|e| is_unavailable(&e)));
    }

    #[test]
    fn ids_are_128_bit_hex() {
        let rng = ring::rand::SystemRandom::new();
        let a = new_id(&rng).unwrap_or_default();
        let b = new_id(&rng).unwrap_or_default();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
