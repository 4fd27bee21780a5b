using System.Runtime.CompilerServices;

// Pure logic (layout, IMDS, DHCP arguments) is tested without root (STYLE.md §6).
[assembly: InternalsVisibleTo("Fathom.Lab.Tests")]

// The cloud provider's IMDSv2 client is tested against the lab's own metadata service, served
// in-process on loopback (tests/Cloud.Aws.Tests/LabCloud.cs), not against a stand-in.
[assembly: InternalsVisibleTo("Fathom.Cloud.Aws.Tests")]
