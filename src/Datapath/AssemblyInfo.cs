namespace Fathom.Datapath;
