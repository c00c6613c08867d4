package store

// String renders k as tenant/room/channel for logs and error messages. It is
// not an identifier: backends that need one escape each part themselves.
func (k Key) String() string { return k.Tenant + "/" + k.Room + "/" + k.Channel }
